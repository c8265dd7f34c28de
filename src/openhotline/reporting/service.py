"""Reporting use cases: accept reports, merge them into cases, answer status look-ups.

Services never commit: the caller owns the transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.cases.lifecycle import REOPENABLE
from openhotline.cases.models import (
    PRIORITY_CHILD_IN_DANGER,
    PRIORITY_NORMAL,
    PUBLIC_STATUS_OF,
    Case,
    CaseEvent,
    CaseEventKind,
    CaseStatus,
    PublicStatus,
)
from openhotline.cases.service import move
from openhotline.errors import InvalidError
from openhotline.reporting.idempotency import IdempotencyKey, run_once
from openhotline.reporting.models import Report, ReportURL
from openhotline.reporting.receipts import format_receipt, new_receipt, normalise_receipt
from openhotline.reporting.schemas import BatchItemOut, BatchOut, ReportIn
from openhotline.urls import CanonicalURL, InvalidURLError, canonicalize

# The intake tables are written with raw bulk inserts: SQL built once, rows as tuples, no
# per-row parameter processing (see db.BulkInsert); PostgreSQL takes big batches by COPY.
_CASES = db.BulkInsert(
    cast(Table, Case.__table__),
    ("canonical_url", "url_hash", "host", "status", "priority", "report_count",
     "created_at", "updated_at", "legal_hold"),
    ignore_conflicts=True,
)  # fmt: skip
_REPORTS = db.BulkInsert(
    cast(Table, Report.__table__),
    ("receipt", "created_at", "source", "external_id", "seen", "description", "found_where",
     "child_in_danger", "contact_email", "contact_consent", "language"),
)  # fmt: skip
_REPORTS_WITH_ID = db.BulkInsert(cast(Table, Report.__table__), ("id", *_REPORTS.columns))
_CASES_WITH_ID = db.BulkInsert(cast(Table, Case.__table__), ("id", *_CASES.columns))
_REPORT_URLS = db.BulkInsert(
    cast(Table, ReportURL.__table__), ("report_id", "case_id", "position", "submitted_url")
)
_CASE_EVENTS = db.BulkInsert(
    cast(Table, CaseEvent.__table__), ("case_id", "at", "kind", "to_status")
)
# From this many reports on, PostgreSQL gets them by COPY (below, one multi-row INSERT
# is as fast and needs no reserved ids).
COPY_FROM = 100


@dataclass(frozen=True)
class IntakeLimits:
    """Limits on one report (from settings)."""

    max_urls: int = 50
    max_url_bytes: int = 4096


class ReportRejectedError(InvalidError):
    """A report that cannot be accepted; the message is safe to show the reporter."""


def url_hash(canonical_url: str) -> str:
    """Return the key under which a canonical URL's case is stored."""
    return hashlib.sha256(canonical_url.encode("utf-8")).hexdigest()


def canonical_urls(urls: list[str], limits: IntakeLimits) -> list[tuple[str, CanonicalURL]]:
    """Validate and canonicalise a report's URLs; raise ReportRejectedError naming each bad one."""
    if len(urls) > limits.max_urls:
        raise ReportRejectedError(f"too many URLs: {len(urls)} (at most {limits.max_urls})")
    out: list[tuple[str, CanonicalURL]] = []
    problems: list[str] = []
    for i, raw in enumerate(urls):
        if len(raw.encode("utf-8", "surrogatepass")) > limits.max_url_bytes:
            problems.append(f"urls[{i}]: longer than {limits.max_url_bytes} bytes")
            continue
        try:
            out.append((raw, canonicalize(raw)))
        except InvalidURLError as exc:
            problems.append(f"urls[{i}]: {exc}")
    if problems:
        raise ReportRejectedError("invalid URL" if len(problems) == 1 else "invalid URLs", problems)
    return out


@dataclass
class _Prepared:
    data: ReportIn
    urls: list[tuple[str, CanonicalURL]]
    receipt: str
    # The language of the public form, for the feedback e-mail (None: the configured one).
    language: str | None = None


def _prepare(data: ReportIn, limits: IntakeLimits) -> _Prepared:
    return _Prepared(data=data, urls=canonical_urls(data.urls, limits), receipt=new_receipt())


# PostgreSQL's look-up and count of cases reported before: keys, ids and counts as arrays,
# so each statement's text is the same for any group (psycopg converts it once, the server
# prepares it) and one UPDATE counts every case, whatever the counts.
_PG_LOCK_CASES = (
    "SELECT id, url_hash, status FROM cases WHERE url_hash = ANY(%s::varchar[]) "
    "ORDER BY id FOR UPDATE"
)
_PG_COUNT_CASES = (
    "UPDATE cases SET report_count = cases.report_count + v.n, updated_at = %s, "
    "priority = CASE WHEN v.urgent AND cases.priority < %s THEN %s ELSE cases.priority END "
    "FROM unnest(%s::integer[], %s::integer[], %s::boolean[]) AS v(id, n, urgent) "
    "WHERE cases.id = v.id"
)

# SQLite's: the key list in place of {marks}; the counts by one executemany (one prepared
# statement, in C) for any mix of counts.
_SQLITE_FIND_CASES = "SELECT id, url_hash, status FROM cases WHERE url_hash IN ({marks})"
_SQLITE_COUNT_CASE = (
    "UPDATE cases SET report_count = report_count + ?, updated_at = ?, "
    "priority = CASE WHEN ? AND priority < ? THEN ? ELSE priority END WHERE id = ?"
)


def _existing_cases(
    session: Session, keys: list[str], *, lock: bool
) -> list[tuple[int, str, CaseStatus]]:
    """The cases of these url_hash keys already stored: (id, key, status), in id order.

    With `lock` (PostgreSQL) they are locked here, in id order, before any UPDATE of the
    caller: the UPDATEs of two concurrent transactions would otherwise take the same rows
    in other orders. SQLite has no row locks (FOR UPDATE is left out).
    """
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        sql = _PG_LOCK_CASES if lock else _PG_LOCK_CASES.removesuffix(" FOR UPDATE")
        rows = conn.exec_driver_sql(sql, (keys,))
        return [(int(i), str(k), CaseStatus(st)) for i, k, st in rows]
    # SQLite: raw SQL, one text per chunk size (the ORM's compilation of an expanding IN
    # was a fifth of the writer's CPU on single reports).
    found: list[tuple[int, str, CaseStatus]] = []
    for start in range(0, len(keys), db.BULK_CHUNK):
        chunk = keys[start : start + db.BULK_CHUNK]
        sql = _SQLITE_FIND_CASES.format(marks=", ".join("?" * len(chunk)))
        rows = conn.exec_driver_sql(sql, tuple(chunk))
        found.extend((int(i), str(k), CaseStatus(st)) for i, k, st in rows)
    found.sort()
    return found


def _store(session: Session, items: list[tuple[_Prepared, str]]) -> None:
    """Write prepared reports and merge their URLs into cases, in bulk."""
    if not items:
        return
    postgres = session.get_bind().dialect.name == "postgresql"
    now = db.now(session)
    now_db = _REPORTS.bind(session, "created_at", now)
    new_status = _CASES.bind(session, "status", CaseStatus.NEW)
    # Per case: its row, how many reports name it (once per report) and whether any is urgent.
    case_rows: dict[str, list[Any]] = {}
    keys_of: list[list[str]] = []
    for p, _source in items:
        prio = PRIORITY_CHILD_IN_DANGER if p.data.child_in_danger else PRIORITY_NORMAL
        keys = [url_hash(canon.url) for _raw, canon in p.urls]
        keys_of.append(keys)
        for key, (_raw, canon) in zip(keys, p.urls, strict=True):
            row = case_rows.get(key)
            if row is None:
                case_rows[key] = [canon.url, key, canon.host, new_status, prio, 0,
                                  now_db, now_db, False]  # fmt: skip
            elif prio > row[4]:
                row[4] = prio
        for key in set(keys):
            case_rows[key][5] += 1
    keys_sorted = sorted(case_rows)
    found: list[tuple[int, str, CaseStatus]] = []
    locked = db.sqlite_write_locked(session)
    if locked:
        # The write lock is ours (the group committer begins IMMEDIATE): no other connection
        # can add a case or a report before this commits, so the cases already there are
        # looked up and the new ones written with ids of our own, by executemany, without
        # RETURNING's per-row results (~10% of a 1,000-report batch's CPU).
        for start in range(0, len(keys_sorted), db.BULK_CHUNK):
            chunk = keys_sorted[start : start + db.BULK_CHUNK]
            found.extend(_existing_cases(session, chunk, lock=False))
        ids = {key: case_id for case_id, key, _status in found}
        fresh = [k for k in keys_sorted if k not in ids]
        fresh_ids = _CASES_WITH_ID.next_ids(session, len(fresh))
        _CASES_WITH_ID.execute(
            session, [(i, *case_rows[k]) for i, k in zip(fresh_ids, fresh, strict=True)]
        )
        ids.update(zip(fresh, fresh_ids, strict=True))
        new_ids = set(fresh_ids)
        fresh_keys = set(fresh)
        existing = [k for k in case_rows if k not in fresh_keys]
    else:
        # Writing first takes SQLite's write lock up front (a deferred transaction's
        # caller), so concurrent writers queue on busy_timeout instead of failing.
        # In url_hash order: on PostgreSQL two server processes inserting the same new URLs
        # (one URL reported twice at once) each wait for the other's row; in any other
        # order the two transactions could hold one each and deadlock (seen at 50 batch
        # clients).
        created = _CASES.returning(
            session, [tuple(case_rows[k]) for k in keys_sorted], ("id", "url_hash")
        )
        ids = {str(h): int(i) for i, h in created}
        new_ids = set(ids.values())
        existing = [k for k in case_rows if k not in ids]
        if existing:
            found = _existing_cases(session, existing, lock=True)
            ids.update((key, case_id) for case_id, key, _status in found)
    closed_ids = {case_id for case_id, _key, status in found if REOPENABLE(status)}
    if existing and postgres:
        # Cases reported before (locked above): count the new reports, raise the priority
        # if urgent, in one statement.
        counted = [(ids[k], case_rows[k][5], case_rows[k][4] >= PRIORITY_CHILD_IN_DANGER)
                   for k in existing]  # fmt: skip
        case_ids, counts, urgent_flags = (list(col) for col in zip(*counted, strict=True))
        session.connection().exec_driver_sql(
            _PG_COUNT_CASES,
            (now_db, PRIORITY_CHILD_IN_DANGER, PRIORITY_CHILD_IN_DANGER,
             case_ids, counts, urgent_flags),
        )  # fmt: skip
    elif existing:
        # Cases reported before: count the new reports, raise the priority if urgent.
        top = PRIORITY_CHILD_IN_DANGER
        session.connection().exec_driver_sql(
            _SQLITE_COUNT_CASE,
            [(case_rows[k][5], now_db, case_rows[k][4] >= top, top, top, ids[k])
             for k in sorted(existing, key=ids.__getitem__)],
        )  # fmt: skip

    report_rows = [
        (
            p.receipt, now_db, source, p.data.external_id,
            p.data.seen.value if p.data.seen else None, p.data.description,
            p.data.found_where, p.data.child_in_danger,
            p.data.contact_email if p.data.contact_consent else None,
            bool(p.data.contact_consent and p.data.contact_email),
            p.language if p.data.contact_consent and p.data.contact_email else None,
        )
        for p, source in items
    ]  # fmt: skip
    big = postgres and len(report_rows) >= COPY_FROM
    if big or locked:
        report_ids = _REPORTS.next_ids(session, len(report_rows))
        with_ids = [(i, *r) for i, r in zip(report_ids, report_rows, strict=True)]
        if big:
            _REPORTS_WITH_ID.copy(session, with_ids)
        else:
            _REPORTS_WITH_ID.execute(session, with_ids)
    else:
        by_receipt = dict(_REPORTS.returning(session, report_rows, ("receipt", "id")))
        report_ids = [int(by_receipt[p.receipt]) for p, _source in items]

    url_rows = [
        (report_id, ids[key], pos, raw)
        for report_id, keys, (p, _source) in zip(report_ids, keys_of, items, strict=True)
        for pos, (key, (raw, _canon)) in enumerate(zip(keys, p.urls, strict=True))
    ]
    received = _CASE_EVENTS.bind(session, "kind", CaseEventKind.RECEIVED)
    events = [(cid, now_db, received, new_status) for cid in sorted(new_ids)]
    if big:
        _REPORT_URLS.copy(session, url_rows)
        _CASE_EVENTS.copy(session, events)
    else:
        _REPORT_URLS.execute(session, url_rows)
        _CASE_EVENTS.execute(session, events)
    # Rare (a closed or removed URL reported again), so these go one by one through the
    # lifecycle: the case is reopened and captured again, since the content may be back.
    for cid in sorted(closed_ids):
        case = session.get(Case, cid)
        if case is not None and REOPENABLE(case):
            move(session, case, CaseStatus.NEW, actor="intake", reason="reported again")


def submit_report(
    session: Session, data: ReportIn, *, source: str = "public", limits: IntakeLimits | None = None
) -> str:
    """Accept one report; return its receipt code. Raises ReportRejectedError on bad input."""
    prepared = _prepare(data, limits or IntakeLimits())
    _store(session, [(prepared, source)])
    return prepared.receipt


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


@dataclass
class PreparedBatch:
    """A validated partner batch: per-item outcomes so far and the reports to store."""

    results: list[BatchItemOut | None]
    prepared: list[tuple[int, _Prepared]]


def prepare_report(data: ReportIn, limits: IntakeLimits | None = None) -> _Prepared:
    """Validate and canonicalise a report outside any transaction (CPU only)."""
    return _prepare(data, limits or IntakeLimits())


def store_reports(session: Session, items: list[tuple[_Prepared, str]]) -> list[str]:
    """Store prepared reports, each with its source; return their receipt codes."""
    _store(session, items)
    return [p.receipt for p, _source in items]


def receipt_answer(receipt: str) -> dict[str, Any]:
    """The JSON answer to a filed report."""
    return {"receipt": format_receipt(receipt), "status": "received"}


def store_reports_once(
    session: Session, items: list[tuple[_Prepared, str, IdempotencyKey]]
) -> list[tuple[dict[str, Any], bool]]:
    """Store reports, each at most once per Idempotency-Key: (answer, replayed) for each."""
    out: list[tuple[dict[str, Any], bool]] = []
    for prepared, source, key in items:

        def produce(prepared: _Prepared = prepared, source: str = source) -> dict[str, Any]:
            _store(session, [(prepared, source)])
            return receipt_answer(prepared.receipt)

        out.append(run_once(session, key, produce))
    return out


def prepare_batch_job(
    job: tuple[list[Any], IntakeLimits, str, IdempotencyKey | None],
) -> tuple[PreparedBatch, str, IdempotencyKey | None]:
    """A partner batch's job before it is stored: its items validated (CPU only)."""
    items, limits, source, key = job
    return prepare_batch(items, limits), source, key


def store_batches_once(
    session: Session, batches: list[tuple[PreparedBatch, str, IdempotencyKey | None]]
) -> list[tuple[dict[str, Any], bool]]:
    """Store prepared partner batches, each at most once per Idempotency-Key (when it has one).

    Answers (the batch's JSON answer, replayed); without a key nothing is ever replayed.
    The batches without a key are written together, by one _store: its cases go in in one
    sorted order, so two server processes' transactions cannot deadlock on shared URLs.
    """
    out: list[tuple[dict[str, Any], bool] | None] = [None] * len(batches)
    known: dict[str, dict[str, str]] = {}  # per source: external_id -> receipt
    together: list[tuple[_Prepared, str]] = []
    for n, (batch, source, key) in enumerate(batches):
        if key is not None:
            continue
        results, to_store = _batch_outcomes(session, batch, source, known.setdefault(source, {}))
        together.extend((p, source) for p in to_store)
        out[n] = (_batch_answer(results), False)
    _store(session, together)
    for n, (batch, source, key) in enumerate(batches):
        if key is None:
            continue

        def produce(batch: PreparedBatch = batch, source: str = source) -> dict[str, Any]:
            return _batch_answer(store_batch(session, batch, source))

        out[n] = run_once(session, key, produce)
    return [answer for answer in out if answer is not None]


def _batch_answer(results: list[BatchItemOut]) -> dict[str, Any]:
    accepted = sum(1 for r in results if r.accepted)
    answer = BatchOut(accepted=accepted, rejected=len(results) - accepted, results=results)
    return answer.model_dump(mode="json")


def prepare_batch(items: list[Any], limits: IntakeLimits | None = None) -> PreparedBatch:
    """Validate each item of a partner batch on its own (CPU only, no database)."""
    lim = limits or IntakeLimits()
    results: list[BatchItemOut | None] = [None] * len(items)
    prepared: list[tuple[int, _Prepared]] = []
    for i, item in enumerate(items):
        try:
            data = ReportIn.model_validate(item)
            prepared.append((i, _prepare(data, lim)))
        except ValidationError as exc:
            results[i] = BatchItemOut(index=i, accepted=False, error=_validation_message(exc))
        except ReportRejectedError as exc:
            msg = "; ".join([exc.message, *exc.detail])
            results[i] = BatchItemOut(index=i, accepted=False, error=msg)
    return PreparedBatch(results=results, prepared=prepared)


def _batch_outcomes(
    session: Session, batch: PreparedBatch, source: str, known: dict[str, str]
) -> tuple[list[BatchItemOut], list[_Prepared]]:
    """Each item's outcome and the reports to store; external_ids seen before (in the
    database, in `known`, or earlier in the batch) keep their receipt. Adds to `known`."""
    results = list(batch.results)
    ext_ids = [
        p.data.external_id
        for _, p in batch.prepared
        if p.data.external_id and p.data.external_id not in known
    ]
    if ext_ids:
        for ext, receipt in session.execute(
            select(Report.external_id, Report.receipt).where(
                Report.source == source, Report.external_id.in_(ext_ids)
            )
        ).all():
            if ext is not None:
                known[ext] = receipt
    to_store: list[_Prepared] = []
    for i, p in batch.prepared:
        ext = p.data.external_id
        if ext and ext in known:
            results[i] = BatchItemOut(
                index=i, accepted=True, duplicate=True, receipt=format_receipt(known[ext])
            )
            continue
        if ext:
            known[ext] = p.receipt
        to_store.append(p)
        results[i] = BatchItemOut(index=i, accepted=True, receipt=format_receipt(p.receipt))
    return [r for r in results if r is not None], to_store


def store_batch(session: Session, batch: PreparedBatch, source: str) -> list[BatchItemOut]:
    """Store a prepared batch; external_ids seen before (or earlier in it) keep their receipt."""
    results, to_store = _batch_outcomes(session, batch, source, {})
    _store(session, [(p, source) for p in to_store])
    return results


def submit_batch(
    session: Session,
    items: list[Any],
    *,
    source: str,
    limits: IntakeLimits | None = None,
) -> list[BatchItemOut]:
    """Accept or reject each item of a partner batch on its own; retries are idempotent."""
    return store_batch(session, prepare_batch(items, limits), source)


def public_status(session: Session, receipt_text: str) -> PublicStatus | None:
    """Return the coarse status of a report by receipt, or None if there is no such report."""
    code = normalise_receipt(receipt_text)
    if code is None:
        return None
    statuses = (
        session.execute(
            select(Case.status)
            .join(ReportURL, ReportURL.case_id == Case.id)
            .join(Report, Report.id == ReportURL.report_id)
            .where(Report.receipt == code)
        )
        .scalars()
        .all()
    )
    if not statuses:
        return None
    public = {PUBLIC_STATUS_OF[s] for s in statuses}
    if public == {PublicStatus.CLOSED}:
        return PublicStatus.CLOSED
    for level in (PublicStatus.ACTIONED, PublicStatus.BEING_ASSESSED):
        if level in public:
            return level
    return PublicStatus.RECEIVED


def get_report_by_receipt(session: Session, receipt_text: str) -> Report | None:
    """Return a report by its receipt code (staff use only)."""
    code = normalise_receipt(receipt_text)
    if code is None:
        return None
    return session.execute(select(Report).where(Report.receipt == code)).scalar_one_or_none()

"""Reporting use cases: accept reports, merge them into cases, answer status look-ups.

Services never commit: the caller owns the transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy import Table, select, update
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
    # Writing first takes SQLite's write lock up front (the group committer also begins
    # IMMEDIATE), so concurrent writers queue on busy_timeout instead of failing.
    created = _CASES.returning(session, [tuple(r) for r in case_rows.values()], ("id", "url_hash"))
    ids = {str(h): int(i) for i, h in created}
    new_ids = set(ids.values())
    existing = [k for k in case_rows if k not in ids]
    closed_ids: set[int] = set()
    if existing:
        found = session.execute(
            select(Case.id, Case.url_hash, Case.status).where(Case.url_hash.in_(existing))
        ).all()
        for case_id, key, status in found:
            ids[key] = case_id
            if REOPENABLE(status):
                closed_ids.add(case_id)
        # Cases reported before: count the new reports, raise the priority if urgent.
        by_count: dict[int, list[int]] = {}
        urgent: list[int] = []
        for key in existing:
            by_count.setdefault(case_rows[key][5], []).append(ids[key])
            if case_rows[key][4] >= PRIORITY_CHILD_IN_DANGER:
                urgent.append(ids[key])
        for count, case_ids in sorted(by_count.items()):
            session.execute(
                update(Case)
                .where(Case.id.in_(sorted(case_ids)))
                .values(report_count=Case.report_count + count, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        if urgent:
            session.execute(
                update(Case)
                .where(Case.id.in_(sorted(urgent)), Case.priority < PRIORITY_CHILD_IN_DANGER)
                .values(priority=PRIORITY_CHILD_IN_DANGER)
                .execution_options(synchronize_session=False)
            )

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
    if big:
        report_ids = _REPORTS.next_ids(session, len(report_rows))
        _REPORTS_WITH_ID.copy(
            session, [(i, *r) for i, r in zip(report_ids, report_rows, strict=True)]
        )
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
    """
    out: list[tuple[dict[str, Any], bool]] = []
    for batch, source, key in batches:

        def produce(batch: PreparedBatch = batch, source: str = source) -> dict[str, Any]:
            results = store_batch(session, batch, source)
            accepted = sum(1 for r in results if r.accepted)
            answer = BatchOut(accepted=accepted, rejected=len(results) - accepted, results=results)
            return answer.model_dump(mode="json")

        out.append((produce(), False) if key is None else run_once(session, key, produce))
    return out


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


def store_batch(session: Session, batch: PreparedBatch, source: str) -> list[BatchItemOut]:
    """Store a prepared batch; external_ids seen before (or earlier in it) keep their receipt."""
    results = list(batch.results)
    ext_ids = [p.data.external_id for _, p in batch.prepared if p.data.external_id]
    known: dict[str, str] = {}
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
    _store(session, [(p, source) for p in to_store])
    return [r for r in results if r is not None]


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

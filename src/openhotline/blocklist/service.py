"""Block list use cases: what is listed, publishing versions, snapshots, deltas, appeals.

Services never commit: the caller owns the transaction.

The contents of each list come from ONE function per list: `url_list_source` (takedown's
`urls_to_block` less URLs hosted in the hotline's own countries, by the latest hosting trace)
and `hash_list_source` (items in the assessment's four-eyes "confirmed" hash bank, and
Report Remove's "self-generated" bank).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, and_, insert, or_, select, update
from sqlalchemy.orm import Session

from openhotline import db, i18n
from openhotline.assessment.banks import CONFIRMED_BANK
from openhotline.audit.models import AuditAction
from openhotline.audit.service import record
from openhotline.blocklist.formats import (
    DELTA_FORMATS,
    FORMATS,
    Row,
    render_delta,
    render_snapshot,
)
from openhotline.blocklist.models import Appeal, AppealStatus, ListEntry, ListKind, ListVersion
from openhotline.cases.lifecycle import LISTABLE
from openhotline.cases.models import Case, CaseStatus
from openhotline.cases.service import move
from openhotline.config import Settings
from openhotline.errors import ConflictError, DomainError, ErrorKind, InvalidError, NotFoundError
from openhotline.i18n import gettext as _
from openhotline.jobs import service as jobs
from openhotline.matching.models import BankEntry, HashBank, HashType
from openhotline.media.models import Item
from openhotline.reporting.service import url_hash
from openhotline.reportremove.published import hash_list_rows as self_generated_rows
from openhotline.signing.service import SigningKey
from openhotline.takedown.service import urls_to_block
from openhotline.trace.models import HostingTrace
from openhotline.urls import InvalidURLError, canonicalize

_ENTRIES = cast(Table, ListEntry.__table__)
CHUNK = 5000

# (url, md5, sha1, pdq[, classification, provenance]) per key: what a list should hold now.
Contents = dict[str, tuple[str | None, ...]]


class BlocklistError(DomainError):
    """Every error blocklist code raises on purpose (catch this); raise a kind below."""


class BlocklistInvalidError(BlocklistError, InvalidError):
    """Bad input or a refused operation; the message is safe to show."""

    kind = ErrorKind.INVALID


class BlocklistNotFoundError(BlocklistError, NotFoundError):
    """The thing named does not exist."""

    kind = ErrorKind.NOT_FOUND


class BlocklistConflictError(BlocklistError, ConflictError):
    """The request clashes with the current state."""

    kind = ErrorKind.CONFLICT


def url_list_source(session: Session, exclude_countries: Iterable[str] = ()) -> Contents:
    """Confirmed illegal URLs not yet removed (takedown's urls_to_block), less those whose
    latest hosting trace puts them in one of `exclude_countries` (the hotline's own)."""
    urls = urls_to_block(session)
    excluded = {c.upper() for c in exclude_countries}
    if excluded:
        latest: dict[int, str | None] = {}
        for case_id, country in session.execute(
            select(HostingTrace.case_id, HostingTrace.country).order_by(HostingTrace.id)
        ):
            latest[case_id] = country
        own = {
            case_url
            for case_id, case_url in session.execute(select(Case.id, Case.canonical_url))
            if (latest.get(case_id) or "").upper() in excluded
        }
        urls = [u for u in urls if u not in own]
    return {url_hash(u): (u, None, None, None) for u in urls}


def hash_list_source(session: Session, provenance: str = "") -> Contents:
    """Hashes of items confirmed by four eyes: those in the assessment's confirmed bank.

    An item is listed while its SHA-256 is a live entry of the "confirmed" bank; its MD5,
    SHA-1 and (unless weak) PDQ come with it, with the entry's classification. Provenance is
    the publishing hotline: the bank's internal source (an item id) never leaves.
    """
    bank_id = select(HashBank.id).where(HashBank.name == CONFIRMED_BANK).scalar_subquery()
    rows = session.execute(
        select(Item.sha256, Item.md5, Item.sha1, Item.pdq, Item.weak, BankEntry.classification)
        .join(
            BankEntry,
            and_(
                BankEntry.bank_id == bank_id,
                BankEntry.hash_type == HashType.SHA256.value,
                BankEntry.hash_value == Item.sha256,
                BankEntry.removed_at.is_(None),
            ),
        )
        .distinct()
    )
    who = provenance[:100] or None
    # Report Remove's self-generated bank is published with it (an own item wins a tie).
    listed: Contents = self_generated_rows(session, provenance)
    listed.update(
        (sha, (None, md5, sha1, None if weak else pdq, (cls or None), who))
        for sha, md5, sha1, pdq, weak, cls in rows
    )
    return listed


def parse_kind(kind: str) -> ListKind:
    """Return a ListKind or raise BlocklistNotFoundError."""
    try:
        return ListKind(kind)
    except ValueError as exc:
        raise BlocklistNotFoundError(f"no list {kind!r} (lists: urls, hashes)") from exc


def latest(session: Session, kind: ListKind) -> ListVersion | None:
    """Return the newest version of a list, if any."""
    return session.execute(
        select(ListVersion)
        .where(ListVersion.kind == kind)
        .order_by(ListVersion.version.desc())
        .limit(1)
    ).scalar_one_or_none()


def get_version(session: Session, kind: ListKind, version: int) -> ListVersion:
    """Return one version or raise BlocklistNotFoundError."""
    row = session.execute(
        select(ListVersion).where(ListVersion.kind == kind, ListVersion.version == version)
    ).scalar_one_or_none()
    if row is None:
        raise BlocklistNotFoundError(f"{kind} list has no version {version}")
    return row


def _at(values: tuple[str | None, ...], i: int) -> str | None:
    return values[i] if len(values) > i else None


def publish_list(
    session: Session, kind: ListKind, desired: Contents, *, actor: str = "system"
) -> ListVersion:
    """Make `desired` the next version of a list; without any change, return the latest."""
    current = latest(session, kind)
    active: dict[str, int] = dict(
        session.execute(
            select(ListEntry.key, ListEntry.id).where(
                ListEntry.kind == kind, ListEntry.removed_version.is_(None)
            )
        ).all()
    )
    added = [k for k in desired if k not in active]
    removed_ids = [i for k, i in active.items() if k not in desired]
    if current is not None and not added and not removed_ids:
        return current
    number = (current.version if current else 0) + 1
    version = ListVersion(
        kind=kind,
        version=number,
        created_at=db.now(session),
        entry_count=len(desired),
        added_count=len(added),
        removed_count=len(removed_ids),
    )
    session.add(version)
    session.flush()
    for start in range(0, len(added), CHUNK):
        session.execute(
            insert(_ENTRIES),
            [
                {
                    "kind": kind,
                    "key": k,
                    "url": desired[k][0],
                    "md5": desired[k][1],
                    "sha1": desired[k][2],
                    "pdq": desired[k][3],
                    "classification": _at(desired[k], 4),
                    "provenance": _at(desired[k], 5),
                    "added_version": number,
                    "removed_version": None,
                }
                for k in added[start : start + CHUNK]
            ],
        )
    for start in range(0, len(removed_ids), CHUNK):
        session.execute(
            update(_ENTRIES)
            .where(_ENTRIES.c.id.in_(removed_ids[start : start + CHUNK]))
            .values(removed_version=number)
        )
    record(
        session,
        actor,
        AuditAction.LIST_PUBLISH,
        f"list:{kind}:v{number}",
        {"entries": len(desired), "added": len(added), "removed": len(removed_ids)},
    )
    return version


def excluded_countries(settings: Settings) -> list[str]:
    """Countries whose URLs stay off the URL list (own countries, unless configured)."""
    return [] if settings.list_include_own_country else list(settings.own_countries)


def publish_lists(
    session: Session,
    *,
    kinds: Iterable[ListKind] = (ListKind.URLS, ListKind.HASHES),
    exclude_countries: Iterable[str] = (),
    actor: str = "system",
    provenance: str = "",
) -> dict[ListKind, ListVersion]:
    """Rebuild the lists from their sources (call on a schedule or on demand).

    exclude_countries: URLs hosted there stay off the URL list (normally own_countries).
    """
    out: dict[ListKind, ListVersion] = {}
    for kind in kinds:
        if kind is ListKind.URLS:
            desired = url_list_source(session, exclude_countries)
        else:
            desired = hash_list_source(session, provenance)
        out[kind] = publish_list(session, kind, desired, actor=actor)
    return out


def _rows(session: Session, *where: Any) -> Iterator[Row]:
    """Stream entries sorted by key through Core (no ORM objects), in batches."""
    c = _ENTRIES.c
    # The option goes on the statement: on the connection it would stick to later writes.
    stmt = (
        select(c.key, c.url, c.md5, c.sha1, c.pdq, c.classification, c.provenance)
        .where(*where)
        .order_by(c.key)
    )
    result = session.connection().execute(stmt.execution_options(yield_per=50000))
    for r in result:
        yield (r[0], r[1], r[2], r[3], r[4], r[5], r[6])


def snapshot_rows(session: Session, kind: ListKind, version: int) -> Iterator[Row]:
    """Every entry of one version, sorted by key."""
    return _rows(
        session,
        ListEntry.kind == kind,
        ListEntry.added_version <= version,
        or_(ListEntry.removed_version.is_(None), ListEntry.removed_version > version),
    )


def delta_rows(
    session: Session, kind: ListKind, since: int, version: int
) -> tuple[Iterator[Row], Iterator[Row]]:
    """Entries added and removed between version `since` and `version` (since < version)."""
    added = _rows(
        session,
        ListEntry.kind == kind,
        ListEntry.added_version > since,
        ListEntry.added_version <= version,
        or_(ListEntry.removed_version.is_(None), ListEntry.removed_version > version),
    )
    removed = _rows(
        session,
        ListEntry.kind == kind,
        ListEntry.added_version <= since,
        and_(ListEntry.removed_version > since, ListEntry.removed_version <= version),
    )
    return added, removed


@dataclass(frozen=True)
class SignedFile:
    """A rendered list file, its detached signature and the signing key's id."""

    name: str
    data: bytes
    signature: str
    key_id: str


def _check_format(fmt: str, allowed: tuple[str, ...] = FORMATS) -> None:
    if fmt not in allowed:
        raise BlocklistNotFoundError(f"format must be one of {list(allowed)}")


def _cached(
    cache_dir: Path | None, name: str, key: SigningKey, make: Callable[[], bytes]
) -> SignedFile:
    """Render once, sign once; later calls read the files (same version = same bytes)."""
    if cache_dir is not None:
        path = cache_dir / key.key_id / name
        sig_path = path.with_name(name + ".sig")
        if path.exists() and sig_path.exists():
            return SignedFile(name, path.read_bytes(), sig_path.read_text(), key.key_id)
    data = make()
    signature = key.sign(data)
    if cache_dir is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{name}.{secrets.token_hex(4)}")
        tmp.write_bytes(data)
        tmp.replace(path)
        sig_path.write_text(signature)
    return SignedFile(name, data, signature, key.key_id)


def snapshot_file(
    session: Session,
    kind: ListKind,
    version: int,
    fmt: str,
    key: SigningKey,
    cache_dir: Path | None,
) -> SignedFile:
    """The signed snapshot of one version."""
    _check_format(fmt)
    if fmt == "hma" and kind != ListKind.HASHES:
        raise BlocklistNotFoundError("only the hash list has an HMA form")
    row = get_version(session, kind, version)
    name = f"{kind}-v{version}.{fmt}"
    return _cached(
        cache_dir,
        name,
        key,
        lambda: render_snapshot(
            kind.value,
            version,
            row.created_at,
            row.entry_count,
            snapshot_rows(session, kind, version),
            fmt,
        ),
    )


def delta_file(
    session: Session,
    kind: ListKind,
    since: int,
    version: int,
    fmt: str,
    key: SigningKey,
    cache_dir: Path | None,
) -> SignedFile:
    """The signed delta from version `since` (0 = empty list) to `version`."""
    _check_format(fmt, DELTA_FORMATS)
    if since < 0 or since >= version:
        raise BlocklistInvalidError("a delta needs 0 <= since < version")
    row = get_version(session, kind, version)
    if since > 0:
        get_version(session, kind, since)
    name = f"{kind}-v{since}-v{version}.{fmt}"

    def make() -> bytes:
        added, removed = delta_rows(session, kind, since, version)
        return render_delta(kind.value, since, version, row.created_at, added, removed, fmt)

    return _cached(cache_dir, name, key, make)


def listed_case(session: Session, url: str) -> Case | None:
    """The case of a URL if that URL is on the URL list now, else None."""
    try:
        canon = canonicalize(url)
    except InvalidURLError as exc:
        raise BlocklistInvalidError(f"invalid URL: {exc}") from exc
    key = url_hash(canon.url)
    listed = session.execute(
        select(ListEntry.id).where(
            ListEntry.kind == ListKind.URLS,
            ListEntry.key == key,
            ListEntry.removed_version.is_(None),
        )
    ).first()
    if listed is None:
        return None
    return session.execute(select(Case).where(Case.url_hash == key)).scalar_one_or_none()


def file_appeal(
    session: Session,
    url: str,
    reason: str,
    contact_email: str | None,
    *,
    language: str | None = None,
) -> Appeal:
    """Record a site owner's appeal; every well-formed appeal is accepted.

    Whether the URL is listed is never told to the appellant (the list is confidential):
    an appeal against an unlisted URL is recorded without a case and answered the same way.
    """
    reason = reason.strip()
    if not reason:
        raise BlocklistInvalidError("please say why the URL should not be listed")
    if len(reason) > 5000:
        raise BlocklistInvalidError("the reason is limited to 5000 characters")
    if contact_email and ("@" not in contact_email or len(contact_email) > 320):
        raise BlocklistInvalidError("the e-mail address is not valid")
    try:
        canon = canonicalize(url)
    except InvalidURLError as exc:
        raise BlocklistInvalidError(f"invalid URL: {exc}") from exc
    case = listed_case(session, canon.url)
    appeal = Appeal(
        reference="AP-" + secrets.token_hex(5).upper(),
        url=canon.url,
        url_hash=url_hash(canon.url),
        case_id=case.id if case is not None else None,
        reason=reason,
        contact_email=contact_email or None,
        language=i18n.normalise(language) if language and contact_email else None,
    )
    session.add(appeal)
    session.flush()
    record(
        session,
        None,
        AuditAction.APPEAL_FILE,
        f"appeal:{appeal.id}",
        {"case_id": appeal.case_id},
    )
    return appeal


def pending_appeals(session: Session) -> list[Appeal]:
    """Appeals waiting for a decision, oldest first."""
    return list(
        session.execute(
            select(Appeal).where(Appeal.status == AppealStatus.PENDING).order_by(Appeal.id)
        ).scalars()
    )


def decide_appeal(
    session: Session, appeal_id: int, uphold: bool, note: str, *, actor: str
) -> Appeal:
    """Decide an appeal; upheld closes the case so its URL leaves the next list version.

    A reply job is queued in the same transaction when the appellant left an address.
    """
    appeal = session.get(Appeal, appeal_id)
    if appeal is None:
        raise BlocklistNotFoundError(f"no appeal {appeal_id}")
    if appeal.status != AppealStatus.PENDING:
        raise BlocklistConflictError("this appeal has already been decided")
    if not note.strip():
        raise BlocklistInvalidError("a decision needs a note saying why")
    appeal.status = AppealStatus.UPHELD if uphold else AppealStatus.REJECTED
    appeal.decided_at = db.now(session)
    appeal.decided_by = actor
    appeal.decision_note = note.strip()[:5000]
    if uphold and appeal.case_id is not None:
        case = session.get(Case, appeal.case_id)
        if case is not None and LISTABLE(case):
            move(
                session,
                case,
                CaseStatus.CLOSED,
                actor=actor,
                reason=f"appeal {appeal.reference} upheld",
            )
    session.flush()
    record(
        session,
        actor,
        AuditAction.APPEAL_DECIDE,
        f"appeal:{appeal.id}",
        {"outcome": appeal.status, "case_id": appeal.case_id, "note": appeal.decision_note},
    )
    if appeal.contact_email:
        jobs.enqueue(
            session, APPEAL_REPLY_JOB, {"appeal_id": appeal.id}, dedupe_key=f"appeal:{appeal.id}"
        )
    return appeal


APPEAL_REPLY_JOB = "appeals.reply"


def recent_decisions(session: Session, limit: int = 50) -> list[Appeal]:
    """The latest decided appeals, newest first (the console shows whether a reply went)."""
    return list(
        session.execute(
            select(Appeal)
            .where(Appeal.status != AppealStatus.PENDING)
            .order_by(Appeal.decided_at.desc(), Appeal.id.desc())
            .limit(limit)
        ).scalars()
    )


def appeal_reply(session: Session, appeal_id: int, sender: str) -> EmailMessage | None:
    """The decision e-mail for an appeal, or None if there is nothing (more) to send."""
    appeal = session.get(Appeal, appeal_id)
    if appeal is None or appeal.status == AppealStatus.PENDING or not appeal.contact_email:
        return None
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = appeal.contact_email
    # Written in the language of the form the appellant used.
    with i18n.use_language(appeal.language or i18n.DEFAULT_LANGUAGE):
        msg["Subject"] = _("Your request %(reference)s") % {"reference": appeal.reference}
        outcome = (
            _("Your request was accepted: the address will not be on the next version of the list.")
            if appeal.status == AppealStatus.UPHELD
            else _("Your request was reviewed and not accepted.")
        )
        intro = _("We reviewed your request %(reference)s about") % {"reference": appeal.reference}
    # Same wording whether or not the URL was ever listed: the reply is no oracle either.
    msg.set_content(f"{intro}\n{appeal.url}\n\n{outcome}\n\n{appeal.decision_note or ''}\n")
    return msg


def mark_appeal_replied(session: Session, appeal_id: int) -> None:
    """Note that the decision was sent and erase the appellant's address; audited."""
    appeal = session.get(Appeal, appeal_id)
    if appeal is None:
        raise BlocklistNotFoundError(f"no appeal {appeal_id}")
    appeal.replied_at = db.now(session)
    appeal.contact_email = None
    session.flush()
    record(session, "mailer", AuditAction.APPEAL_REPLY, f"appeal:{appeal.id}", {})

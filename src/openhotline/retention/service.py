"""Retention use cases: what a purge would remove (dry run), the purge itself, legal holds.

Each policy is "erase field X of entity Y older than N days" (0 = keep); rows of cases under
legal hold, and items under legal hold, are never touched. Erasing keeps the row (statistics
and the audit trail stay whole) and blanks only what identifies people or describes content;
expired console sessions are deleted. Media is crypto-shredded: the row's storage key holds
the blob's wrapped data key (media/store.py), so blanking it makes the bytes unreadable even
in a backup; the file is deleted as well when a store is given. Every purge writes one audit
entry with its counts. Services never commit: the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.accounts.models import ConsoleSession
from openhotline.audit.models import AuditAction
from openhotline.audit.service import record
from openhotline.capture.models import CaptureArtifact
from openhotline.cases.models import Case
from openhotline.config import RetentionSettings
from openhotline.errors import NotFoundError
from openhotline.federation.models import OutboxMessage
from openhotline.federation.models import Referral as FederatedReferral
from openhotline.media.models import CaseItem, Item
from openhotline.media.store import MediaStore, is_legacy_key
from openhotline.reporting.models import Report, ReportURL
from openhotline.takedown.models import NoticeSend
from openhotline.trace.models import HostingTrace

PURGE_JOB = "retention.purge"


@dataclass(frozen=True)
class Policy:
    """One retention rule: which rows are due and what erasing them sets."""

    name: str
    days: int
    table: Any
    due: Any  # (cutoff) -> where-clause of rows past retention and not yet erased
    erase: dict[str, Any]
    delete: bool = False  # delete the rows instead of blanking fields
    blob_key: Any = None  # the column whose media-store blob goes with the erase


def _report_free(report_id: Any) -> ColumnElement[bool]:
    """No case of this report is under legal hold."""
    return ~exists(
        select(ReportURL.id)
        .join(Case, Case.id == ReportURL.case_id)
        .where(ReportURL.report_id == report_id, Case.legal_hold.is_(True))
    )


def _case_free(case_id: Any) -> ColumnElement[bool]:
    return ~exists(select(Case.id).where(Case.id == case_id, Case.legal_hold.is_(True)))


def _case_done_before(case_id: Any, cut: datetime) -> ColumnElement[bool]:
    """The case was removed or closed before cut and is not under legal hold."""
    done = func.coalesce(Case.removed_at, Case.closed_at)
    return exists(
        select(Case.id).where(
            Case.id == case_id, Case.legal_hold.is_(False), done.is_not(None), done < cut
        )
    )


def _item_media_due(cut: datetime) -> ColumnElement[bool]:
    """Every case the item was seen at is done before cut and none is held; item not held."""
    seen = exists(select(CaseItem.id).where(CaseItem.item_id == Item.id))
    done = func.coalesce(Case.removed_at, Case.closed_at)
    pending = exists(
        select(CaseItem.id)
        .join(Case, Case.id == CaseItem.case_id)
        .where(
            CaseItem.item_id == Item.id,
            or_(Case.legal_hold.is_(True), done.is_(None), done >= cut),
        )
    )
    return and_(Item.storage_key.is_not(None), Item.legal_hold.is_(False), seen, ~pending)


def policies(s: RetentionSettings, now: datetime | None = None) -> list[Policy]:
    """The retention rules from settings."""
    return [
        Policy(
            "reporter_email",
            s.retention_reporter_email_days,
            Report,
            lambda cut: (
                (Report.created_at < cut)
                & Report.contact_email.is_not(None)
                & _report_free(Report.id)
            ),
            {"contact_email": None},
        ),
        Policy(
            "report_text",
            s.retention_report_text_days,
            Report,
            lambda cut: (
                (Report.created_at < cut)
                & ((Report.description != "") | Report.found_where.is_not(None))
                & _report_free(Report.id)
            ),
            {"description": "", "found_where": None},
        ),
        Policy(
            "trace",
            s.retention_trace_days,
            HostingTrace,
            lambda cut: (
                (HostingTrace.traced_at < cut)
                & (HostingTrace.ip.is_not(None) | HostingTrace.abuse_email.is_not(None))
                & _case_free(HostingTrace.case_id)
            ),
            # Country, network and host stay: statistics by country and host need them.
            {"ip": None, "ips": "[]", "abuse_email": None, "registrar_abuse_email": None},
        ),
        Policy(
            "referral_payload",
            s.retention_referral_payload_days,
            FederatedReferral,
            lambda cut: (
                (FederatedReferral.created_at < cut)
                & (FederatedReferral.payload != "{}")
                & _case_free(FederatedReferral.case_id)
            ),
            {"payload": "{}"},
        ),
        Policy(
            "referral_outbox",
            s.retention_referral_payload_days,
            OutboxMessage,
            lambda cut: (
                OutboxMessage.delivered_at.is_not(None)
                & (OutboxMessage.delivered_at < cut)
                & (OutboxMessage.body != "{}")
            ),
            {"body": "{}"},  # a delivered copy; the referral row keeps its own payload
        ),
        Policy(
            "media",
            s.retention_media_days,
            Item,
            _item_media_due,
            {"storage_key": None, "media_erased_at": now},
            blob_key=Item.storage_key,
        ),
        Policy(
            "capture_evidence",
            s.retention_media_days,
            CaptureArtifact,
            lambda cut: (
                (CaptureArtifact.storage_key != "")
                & _case_done_before(CaptureArtifact.case_id, cut)
            ),
            {"storage_key": ""},
            blob_key=CaptureArtifact.storage_key,
        ),
        Policy(
            "notice_addresses",
            s.retention_notice_days,
            NoticeSend,
            lambda cut: (
                (NoticeSend.sent_at < cut)
                & ((NoticeSend.cc != "[]") | NoticeSend.error.is_not(None))
                & _case_free(NoticeSend.case_id)
            ),
            {"cc": "[]", "error": None},
        ),
        Policy(
            "console_sessions",
            s.retention_session_days,
            ConsoleSession,
            lambda cut: ConsoleSession.expires_at < cut,
            {},
            delete=True,
        ),
    ]


def purge(
    session: Session,
    settings: RetentionSettings,
    *,
    dry_run: bool,
    actor: str,
    store: MediaStore | None = None,
) -> dict[str, int]:
    """Erase (or, in a dry run, count) what each policy says; audited either way.

    With a media store, erased blobs' files are deleted too; without one they stay on disk
    but their data keys are gone from the database, so nobody can decrypt them.
    """
    now = db.now(session)
    counts: dict[str, int] = {}
    for policy in policies(settings, now):
        if policy.days <= 0:
            continue
        cutoff: datetime = now - timedelta(days=policy.days)
        where = policy.due(cutoff)
        ids = list(session.execute(select(policy.table.id).where(where)).scalars())
        counts[policy.name] = len(ids)
        if not ids or dry_run:
            continue
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = policy.table.id.in_(chunk)
            blobs: list[str] = []
            if policy.blob_key is not None:
                blobs = list(session.execute(select(policy.blob_key).where(rows)).scalars())
            if policy.delete:
                session.execute(delete(policy.table).where(rows))
            else:
                session.execute(update(policy.table).where(rows).values(**policy.erase))
            if store is not None:
                for key in blobs:
                    if key:
                        store.delete(key)
    session.flush()
    record(
        session,
        actor,
        AuditAction.RETENTION_PURGE,
        "retention",
        {"dry_run": dry_run, "counts": counts},
    )
    return counts


def set_legal_hold(session: Session, case_id: int, on: bool, *, actor: str, reason: str) -> Case:
    """Put a case under legal hold (or lift it); audited with the reason."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFoundError(f"no case {case_id}")
    case.legal_hold = on
    session.flush()
    record(
        session,
        actor,
        AuditAction.RETENTION_HOLD,
        f"case:{case_id}",
        {"hold": on, "reason": reason},
    )
    return case


def set_item_hold(session: Session, item_id: int, on: bool, *, actor: str, reason: str) -> Item:
    """Put an item under legal hold (or lift it): no purge erases its media; audited."""
    item = session.get(Item, item_id)
    if item is None:
        raise NotFoundError(f"no item {item_id}")
    item.legal_hold = on
    session.flush()
    record(
        session,
        actor,
        AuditAction.RETENTION_HOLD,
        f"item:{item_id}",
        {"hold": on, "reason": reason},
    )
    return item


def hold_case_and_items(session: Session, case_id: int, *, actor: str, reason: str) -> None:
    """A police hold: the case and every item seen at it go under legal hold (audited)."""
    set_legal_hold(session, case_id, True, actor=actor, reason=reason)
    item_ids = session.execute(
        select(CaseItem.item_id).where(CaseItem.case_id == case_id)
    ).scalars()
    for item_id in list(item_ids):
        set_item_hold(session, item_id, True, actor=actor, reason=reason)


def rekey_media(session: Session, store: MediaStore, *, actor: str) -> list[str]:
    """Re-encrypt format-1 blobs (master key only) under per-blob keys.

    Each row gets its own new blob. Returns the old storage keys, which the caller deletes
    from the store once the transaction has committed (before that, rows still need them).
    Resumable: a row already on format 2 is left alone. Audited with the count.
    """
    old_keys: set[str] = set()
    done = 0
    for table, digest in ((Item, Item.sha256), (CaptureArtifact, CaptureArtifact.sha256)):
        rows = session.execute(
            select(table.id, table.storage_key, digest).where(
                table.storage_key.is_not(None), table.storage_key != ""
            )
        ).all()
        for row_id, key, sha in rows:
            if not key or not is_legacy_key(key):
                continue
            new_key = store.put(sha, store.get(key))
            session.execute(update(table).where(table.id == row_id).values(storage_key=new_key))
            old_keys.add(key)
            done += 1
    session.flush()
    record(session, actor, AuditAction.RETENTION_REKEY, "media", {"rekeyed": done})
    return sorted(old_keys)


def held(session: Session) -> tuple[list[Case], list[Item]]:
    """Cases and items under legal hold, newest first."""
    cases = list(
        session.execute(
            select(Case).where(Case.legal_hold.is_(True)).order_by(Case.id.desc())
        ).scalars()
    )
    items = list(
        session.execute(
            select(Item).where(Item.legal_hold.is_(True)).order_by(Item.id.desc())
        ).scalars()
    )
    return cases, items

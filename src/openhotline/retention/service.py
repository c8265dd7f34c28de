"""Retention use cases: what a purge would remove (dry run), the purge itself, legal holds.

Each policy is "erase field X of entity Y older than N days" (0 = keep); rows of cases under
legal hold are never touched. Erasing keeps the row (statistics and the audit trail stay
whole) and blanks only what identifies people or describes content. Every purge writes one
audit entry with its counts. Services never commit: the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists, select, update
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.audit.models import AuditAction
from openhotline.audit.service import record
from openhotline.cases.models import Case
from openhotline.config import RetentionSettings
from openhotline.errors import NotFoundError
from openhotline.federation.models import Referral as FederatedReferral
from openhotline.reporting.models import Report, ReportURL
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


def _report_free(report_id: Any) -> ColumnElement[bool]:
    """No case of this report is under legal hold."""
    return ~exists(
        select(ReportURL.id)
        .join(Case, Case.id == ReportURL.case_id)
        .where(ReportURL.report_id == report_id, Case.legal_hold.is_(True))
    )


def _case_free(case_id: Any) -> ColumnElement[bool]:
    return ~exists(select(Case.id).where(Case.id == case_id, Case.legal_hold.is_(True)))


def policies(s: RetentionSettings) -> list[Policy]:
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
    ]


def purge(
    session: Session, settings: RetentionSettings, *, dry_run: bool, actor: str
) -> dict[str, int]:
    """Erase (or, in a dry run, count) what each policy says; audited either way."""
    now = db.now(session)
    counts: dict[str, int] = {}
    for policy in policies(settings):
        if policy.days <= 0:
            continue
        cutoff: datetime = now - timedelta(days=policy.days)
        where = policy.due(cutoff)
        ids = list(session.execute(select(policy.table.id).where(where)).scalars())
        counts[policy.name] = len(ids)
        if ids and not dry_run:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                session.execute(
                    update(policy.table).where(policy.table.id.in_(chunk)).values(**policy.erase)
                )
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

"""Reporter feedback: one e-mail to a consenting reporter when the case is done, then erasure.

A reporter who ticked consent gets exactly one message, when every URL of the report is
actioned or closed; the address is erased in the transaction that records the send.
Supervisors can erase an address on request, found by the address itself.
Services never commit: the caller owns the transaction.
"""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.audit.models import AuditAction
from openhotline.audit.service import record
from openhotline.cases.models import PUBLIC_STATUS_OF, Case, PublicStatus
from openhotline.errors import InvalidError
from openhotline.reporting.models import Report, ReportURL
from openhotline.reporting.receipts import format_receipt

FEEDBACK_JOB = "reporting.feedback"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "feedback"
DEFAULT_LANGUAGE = "en"
_DONE = {PublicStatus.ACTIONED, PublicStatus.CLOSED}
_env = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=False,  # noqa: S701 - plain-text e-mail, never HTML
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def feedback_languages() -> list[str]:
    """Languages that have a feedback template (the notice languages)."""
    return sorted(p.parent.name for p in TEMPLATES.glob("*/feedback.txt.j2"))


def _outcome(session: Session, report_id: int) -> str | None:
    """'actioned' or 'closed' once every case of the report is done, else None."""
    statuses = [
        PUBLIC_STATUS_OF[status]
        for status in session.execute(
            select(Case.status)
            .join(ReportURL, ReportURL.case_id == Case.id)
            .where(ReportURL.report_id == report_id)
        ).scalars()
    ]
    if not statuses or any(s not in _DONE for s in statuses):
        return None
    return "actioned" if PublicStatus.ACTIONED in statuses else "closed"


def feedback_due(session: Session, limit: int = 500) -> list[int]:
    """Reports whose consenting reporter should now get their one e-mail."""
    candidates = session.execute(
        select(Report.id)
        .where(
            Report.contact_consent.is_(True),
            Report.contact_email.is_not(None),
            Report.feedback_sent_at.is_(None),
        )
        .order_by(Report.id)
    ).scalars()
    due = []
    for report_id in candidates:
        if _outcome(session, report_id) is not None:
            due.append(report_id)
            if len(due) >= limit:
                break
    return due


def feedback_message(
    session: Session, report_id: int, *, sender: str, hotline_name: str, language: str
) -> EmailMessage | None:
    """The feedback e-mail for a report, or None if nothing (more) is to be sent."""
    report = session.get(Report, report_id)
    if report is None or not report.contact_email or report.feedback_sent_at is not None:
        return None
    outcome = _outcome(session, report_id)
    if outcome is None:
        return None
    # The language of the form the reporter used, else the configured one.
    wanted = report.language or language
    lang = wanted if wanted in feedback_languages() else DEFAULT_LANGUAGE
    text = _env.get_template(f"{lang}/feedback.txt.j2").render(
        receipt=format_receipt(report.receipt), hotline_name=hotline_name, outcome=outcome
    )
    first, _, body = text.partition("\n")
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = report.contact_email
    msg["Subject"] = first.removeprefix("Subject:").strip()
    msg.set_content(body.lstrip("\n"))
    return msg


def mark_feedback_sent(session: Session, report_id: int) -> None:
    """Record the one feedback e-mail and erase the address; audited."""
    report = session.get(Report, report_id)
    if report is None:
        return
    report.feedback_sent_at = db.now(session)
    report.contact_email = None
    session.flush()
    record(session, "mailer", AuditAction.REPORTER_FEEDBACK_SENT, f"report:{report.id}", {})


def erase_reporter_contact(session: Session, email: str, *, actor: str) -> int:
    """Erase an e-mail address from every report that holds it; return how many; audited.

    The audit entry holds a digest of the address, never the address, so the erasure can
    be shown later without keeping what was erased.
    """
    address = email.strip()
    if "@" not in address or len(address) > 320:
        raise InvalidError("give the e-mail address to erase")
    reports = list(
        session.execute(
            select(Report).where(func.lower(Report.contact_email) == address.lower())
        ).scalars()
    )
    for report in reports:
        report.contact_email = None
    session.flush()
    digest = hashlib.sha256(address.lower().encode()).hexdigest()[:16]
    record(
        session,
        actor,
        AuditAction.REPORTER_CONTACT_ERASED,
        "reports",
        {"reports": [r.id for r in reports], "address_sha256_16": digest},
    )
    return len(reports)

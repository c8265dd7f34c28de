"""Helpline cases: one caller followed over several contacts (use cases; never commits).

A case links contacts, has a status (open / waiting / closed), an assigned counsellor,
follow-up tasks with due dates, referrals and their outcome, and a counsellor summary
encrypted with the helpline cipher. Cases of callers on SMS/WhatsApp carry the caller's
returning-caller key (helpline/callerkey.py) so their next conversation finds them.
Audit entries carry ids and codes, never the summary or task texts.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, exists, or_, select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.errors import NotFoundError
from openhotline.helpline.case_models import (
    CaseContact,
    CaseReferral,
    CaseStatus,
    CaseTask,
    HelplineCase,
)
from openhotline.helpline.crypto import FieldCipher
from openhotline.helpline.models import ContactCategory, HelplineContact
from openhotline.helpline.service import ContactRejectedError, HelplineConflictError
from openhotline.helpline.taxonomy import MODES, Taxonomy

REFERRAL_OUTCOMES = ("pending", "accepted", "declined", "no_response")
SUMMARY_MAX = 4000
TASK_MAX = 300


@dataclass(frozen=True)
class CaseSearch:
    """Filters of the case search (all optional)."""

    case_id: int | None = None
    category: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None  # exclusive
    counsellor: str | None = None
    status: str | None = None


def _summary_ctx(case: HelplineCase) -> str:
    return f"helpline-case:{case.ref}:summary"


def _task_ctx(case: HelplineCase, task: CaseTask) -> str:
    return f"helpline-case:{case.ref}:task:{task.ref}"


def _live(case: HelplineCase) -> None:
    if case.anonymised_at is not None:
        raise HelplineConflictError("this case has been anonymised")


def _touch(session: Session, case: HelplineCase) -> datetime:
    now = db.now(session)
    case.updated_at = now
    return now


def open_case(
    session: Session,
    *,
    mode: str,
    actor: str,
    counsellor: str | None = None,
    caller_key: str | None = None,
) -> HelplineCase:
    """Open a new case (audited)."""
    if mode not in MODES:
        raise ContactRejectedError(f"unknown helpline mode {mode!r}")
    now = db.now(session)
    case = HelplineCase(
        ref=secrets.token_hex(16),
        mode=mode,
        status=CaseStatus.OPEN,
        counsellor=counsellor,
        caller_key=caller_key,
        opened_at=now,
        updated_at=now,
    )
    session.add(case)
    session.flush()
    audit.record(
        session,
        actor,
        AuditAction.HELPLINE_CASE_OPENED,
        f"helpline_case:{case.id}",
        {"mode": mode, "returning_caller": caller_key is not None},
    )
    return case


def case_for_caller(session: Session, candidates: list[str]) -> HelplineCase | None:
    """The caller's newest case not closed, by any candidate key; re-keyed to the first."""
    if not candidates:
        return None
    case = (
        session.execute(
            select(HelplineCase)
            .where(
                HelplineCase.caller_key.in_(candidates),
                HelplineCase.status != CaseStatus.CLOSED,
                HelplineCase.anonymised_at.is_(None),
            )
            .order_by(HelplineCase.id.desc())
            .limit(1)
        )
        .scalars()
        .first()
    )
    if case is not None and case.caller_key != candidates[0]:
        case.caller_key = candidates[0]  # the year turned: keep finding it under this year's key
    return case


def cases_of_caller(session: Session, candidates: list[str]) -> list[HelplineCase]:
    """Every case (closed too) under the candidate keys, newest first."""
    if not candidates:
        return []
    query = (
        select(HelplineCase)
        .where(HelplineCase.caller_key.in_(candidates))
        .order_by(HelplineCase.id.desc())
    )
    return list(session.execute(query).scalars().all())


def case_of_contact(session: Session, contact_id: int) -> HelplineCase | None:
    """The case a contact belongs to, if any."""
    link = session.execute(
        select(CaseContact).where(CaseContact.contact_id == contact_id)
    ).scalar_one_or_none()
    return link.case if link else None


def add_contact(
    session: Session, case: HelplineCase, contact: HelplineContact, *, actor: str
) -> None:
    """Link a contact to a case (a contact belongs to one case; same helpline only)."""
    _live(case)
    if contact.mode != case.mode:
        raise ContactRejectedError("a case holds contacts of one helpline only")
    existing = case_of_contact(session, contact.id)
    if existing is not None:
        if existing.id == case.id:
            return
        raise HelplineConflictError(f"contact {contact.id} already belongs to case {existing.id}")
    session.add(CaseContact(case=case, contact=contact))
    if case.status == CaseStatus.CLOSED:
        case.status = CaseStatus.OPEN
        case.closed_at = None
    _touch(session, case)
    session.flush()
    audit.record(
        session,
        actor,
        AuditAction.HELPLINE_CASE_CONTACT_ADDED,
        f"helpline_case:{case.id}",
        {"contact_id": contact.id},
    )


def read_summary(case: HelplineCase, cipher: FieldCipher) -> str:
    """The decrypted counsellor summary ('' when none or anonymised)."""
    return cipher.decrypt(case.summary_enc, _summary_ctx(case)) if case.summary_enc else ""


def update_case(
    session: Session,
    case: HelplineCase,
    *,
    actor: str,
    cipher: FieldCipher,
    status: str | None = None,
    counsellor: str | None = None,
    summary: str | None = None,
) -> HelplineCase:
    """Change status, assignment and/or summary (audited; the summary never enters the log)."""
    _live(case)
    changed: list[str] = []
    if status is not None and status != case.status:
        if status not in CaseStatus.__members__.values():
            raise ContactRejectedError("status must be open, waiting or closed")
        case.status = CaseStatus(status)
        case.closed_at = db.now(session) if case.status == CaseStatus.CLOSED else None
        changed.append("status")
    if counsellor is not None and (counsellor or None) != case.counsellor:
        if len(counsellor) > 64:
            raise ContactRejectedError("counsellor: at most 64 characters")
        case.counsellor = counsellor or None
        changed.append("counsellor")
    if summary is not None and summary != read_summary(case, cipher):
        if len(summary) > SUMMARY_MAX:
            raise ContactRejectedError(f"summary: at most {SUMMARY_MAX} characters")
        case.summary_enc = cipher.encrypt(summary, _summary_ctx(case)) if summary else None
        changed.append("summary")
    if changed:
        _touch(session, case)
        audit.record(
            session,
            actor,
            AuditAction.HELPLINE_CASE_UPDATED,
            f"helpline_case:{case.id}",
            {"changed": changed, "status": str(case.status), "counsellor": case.counsellor},
        )
    return case


def add_task(
    session: Session,
    case: HelplineCase,
    *,
    title: str,
    due_at: datetime,
    actor: str,
    cipher: FieldCipher,
) -> CaseTask:
    """Add a follow-up task with a due date (its text encrypted)."""
    _live(case)
    title = title.strip()
    if not title or len(title) > TASK_MAX:
        raise ContactRejectedError(f"task: 1 to {TASK_MAX} characters")
    task = CaseTask(
        case=case,
        ref=secrets.token_hex(16),
        due_at=due_at,
        created_at=db.now(session),
        created_by=actor.split(":", 1)[-1],
    )
    task.title_enc = cipher.encrypt(title, _task_ctx(case, task))
    session.add(task)
    _touch(session, case)
    session.flush()
    audit.record(
        session,
        actor,
        AuditAction.HELPLINE_CASE_TASK,
        f"helpline_case:{case.id}",
        {"task_id": task.id, "event": "added", "due": due_at.date().isoformat()},
    )
    return task


def complete_task(session: Session, task: CaseTask, *, actor: str) -> CaseTask:
    """Mark a task done (once)."""
    _live(task.case)
    if task.done_at is None:
        task.done_at = _touch(session, task.case)
        audit.record(
            session,
            actor,
            AuditAction.HELPLINE_CASE_TASK,
            f"helpline_case:{task.case_id}",
            {"task_id": task.id, "event": "done"},
        )
    return task


def task_title(task: CaseTask, cipher: FieldCipher) -> str:
    """The decrypted task text ('' once anonymised)."""
    return cipher.decrypt(task.title_enc, _task_ctx(task.case, task)) if task.title_enc else ""


def is_overdue(task: CaseTask, now: datetime) -> bool:
    """An open task past its due date."""
    return task.done_at is None and task.due_at < now


def add_referral(
    session: Session, case: HelplineCase, *, agency: str, actor: str, taxonomy: Taxonomy
) -> CaseReferral:
    """Record a referral made for the case (an agency code of the taxonomy)."""
    _live(case)
    if agency not in taxonomy.referrals:
        raise ContactRejectedError(f"referral: unknown code {agency!r}")
    referral = CaseReferral(case=case, agency=agency, made_at=db.now(session), outcome="pending")
    session.add(referral)
    _touch(session, case)
    session.flush()
    audit.record(
        session,
        actor,
        AuditAction.HELPLINE_CASE_REFERRAL,
        f"helpline_case:{case.id}",
        {"referral_id": referral.id, "agency": agency, "outcome": "pending"},
    )
    return referral


def set_referral_outcome(
    session: Session, referral: CaseReferral, *, outcome: str, actor: str
) -> CaseReferral:
    """Record what came of a referral."""
    _live(referral.case)
    if outcome not in REFERRAL_OUTCOMES:
        raise ContactRejectedError(f"outcome: one of {', '.join(REFERRAL_OUTCOMES)}")
    referral.outcome = outcome
    referral.outcome_at = _touch(session, referral.case)
    audit.record(
        session,
        actor,
        AuditAction.HELPLINE_CASE_REFERRAL,
        f"helpline_case:{referral.case_id}",
        {"referral_id": referral.id, "agency": referral.agency, "outcome": outcome},
    )
    return referral


def get_case(session: Session, case_id: int) -> HelplineCase:
    """A case by id, or NotFoundError."""
    case = session.get(HelplineCase, case_id)
    if case is None:
        raise NotFoundError("no such case")
    return case


def get_task(session: Session, case_id: int, task_id: int) -> CaseTask:
    """A task of the given case, or NotFoundError."""
    task = session.get(CaseTask, task_id)
    if task is None or task.case_id != case_id:
        raise NotFoundError("no such task on this case")
    return task


def get_referral(session: Session, case_id: int, referral_id: int) -> CaseReferral:
    """A referral of the given case, or NotFoundError."""
    referral = session.get(CaseReferral, referral_id)
    if referral is None or referral.case_id != case_id:
        raise NotFoundError("no such referral on this case")
    return referral


def view_case(session: Session, case: HelplineCase, *, actor: str) -> None:
    """Audit that someone opened a case."""
    audit.record(session, actor, AuditAction.HELPLINE_CASE_VIEWED, f"helpline_case:{case.id}")


def _search_query(f: CaseSearch) -> Select[HelplineCase]:
    query = select(HelplineCase)
    if f.case_id is not None:
        query = query.where(HelplineCase.id == f.case_id)
    if f.counsellor:
        query = query.where(HelplineCase.counsellor == f.counsellor)
    if f.status:
        query = query.where(HelplineCase.status == f.status)
    if f.date_from is not None or f.date_to is not None:
        # A case matches a date range when it was open during it.
        if f.date_to is not None:
            query = query.where(HelplineCase.opened_at < f.date_to)
        if f.date_from is not None:
            query = query.where(
                or_(HelplineCase.closed_at.is_(None), HelplineCase.closed_at >= f.date_from)
            )
    if f.category:
        query = query.where(
            exists()
            .where(CaseContact.case_id == HelplineCase.id)
            .where(ContactCategory.contact_id == CaseContact.contact_id)
            .where(ContactCategory.category == f.category)
        )
    return query


def search_cases(session: Session, f: CaseSearch, *, limit: int = 100) -> list[HelplineCase]:
    """Cases matching every given filter, newest activity first."""
    query = _search_query(f).order_by(HelplineCase.updated_at.desc(), HelplineCase.id.desc())
    return list(session.execute(query.limit(limit)).scalars().all())


def contacts_of(case: HelplineCase) -> list[HelplineContact]:
    """The case's contacts, oldest first."""
    return sorted((link.contact for link in case.links), key=lambda c: (c.contact_at, c.id))


def open_tasks_overdue(session: Session, now: datetime) -> int:
    """How many open tasks are past due (for the console's start page)."""
    query = select(CaseTask.id).where(CaseTask.done_at.is_(None), CaseTask.due_at < now)
    return len(session.execute(query).all())


def default_due(now: datetime, days: int = 7) -> datetime:
    """A task's default due date."""
    return now + timedelta(days=days)

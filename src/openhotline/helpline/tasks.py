"""Helpline jobs: anonymise contacts past the retention period.

A plain function: the CLI `openhotline helpline anonymise` calls it, and the job queue runs
it once a day (a tick hook enqueues one deduplicated job per UTC day).
Counts survive: the coded fields and the month stay. Details do not: notes, identifying
details, the counsellor, the exact time, the link to a hotline report and the people and
notes of escalations are removed, and the contact gets a new random reference so that
the hotline report it became no longer leads back to it. Contacts with an undecided
escalation are left alone.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, sessionmaker

from openhotline import db
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.db import transaction
from openhotline.helpline import case_retention
from openhotline.helpline.models import Escalation, EscalationStatus, HelplineContact
from openhotline.jobs import service as jobs

if TYPE_CHECKING:
    from openhotline.bootstrap import Services

BATCH = 500


@dataclass(frozen=True)
class AnonymiseResult:
    """How many contacts were anonymised, and how many waited on a pending escalation."""

    anonymised: int
    skipped_pending: int
    cutoff: datetime


def month_start(at: datetime) -> datetime:
    """Return the first instant (UTC) of at's month."""
    at = at.astimezone(UTC)
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def anonymise_expired(
    session: Session, *, retention_days: int, now: datetime | None = None
) -> AnonymiseResult:
    """Anonymise every contact older than retention_days (in the caller's transaction)."""
    now = now or db.now(session)
    cutoff = now - timedelta(days=retention_days)
    pending = exists().where(
        Escalation.contact_id == HelplineContact.id,
        Escalation.status == EscalationStatus.PENDING,
    )
    due = (
        select(HelplineContact)
        .where(HelplineContact.anonymised_at.is_(None), HelplineContact.contact_at < cutoff)
        .order_by(HelplineContact.id)
    )
    skipped = len(session.execute(due.where(pending)).scalars().all())
    done = 0
    last_id = 0
    while True:
        batch = (
            session.execute(due.where(~pending, HelplineContact.id > last_id).limit(BATCH))
            .scalars()
            .all()
        )
        if not batch:
            break
        for contact in batch:
            contact.contact_at = month_start(contact.contact_at)
            contact.notes_enc = None
            contact.identity_enc = None
            contact.counsellor = None
            contact.report_id = None
            # A new reference cuts the way back from the hotline report (its external_id).
            contact.ref = secrets.token_hex(16)
            contact.anonymised_at = now
            for esc in contact.escalations:
                esc.raised_at = month_start(esc.raised_at) if esc.raised_at else None
                esc.decided_at = month_start(esc.decided_at) if esc.decided_at else None
                esc.raised_by = None
                esc.decided_by = None
                esc.decision_note_enc = None
            last_id = contact.id
        done += len(batch)
        session.flush()
    # Cases, their tasks and referrals, and conversations (transcripts) follow the contacts.
    others = case_retention.anonymise(session, cutoff, now)
    audit.record(
        session,
        "system:retention",
        AuditAction.HELPLINE_RETENTION_ANONYMISED,
        None,
        {
            "anonymised": done,
            "skipped_pending": skipped,
            "cutoff": cutoff.isoformat(),
            "conversations": others.conversations,
            "cases": others.cases,
        },
    )
    return AnonymiseResult(done, skipped, cutoff)


def run_anonymise(
    factory: sessionmaker[Session], *, retention_days: int, now: datetime | None = None
) -> AnonymiseResult:
    """Run the anonymisation job in its own transaction (the CLI and job queues call this)."""
    with transaction(factory) as session:
        return anonymise_expired(session, retention_days=retention_days, now=now)


def anonymise_job(services: Services, payload: dict[str, Any]) -> None:
    """Job-queue handler: anonymise with the configured retention (idempotent)."""
    run_anonymise(services.sessionmaker, retention_days=services.settings.helpline_retention_days)


def enqueue_daily_anonymise(services: Services) -> None:
    """Queue the anonymisation job (at most once per UTC day) when contacts are due."""
    if "helpline" not in services.settings.modules:
        return
    with transaction(services.sessionmaker) as session:
        today = db.now(session)
        cutoff = today - timedelta(days=services.settings.helpline_retention_days)
        due = session.execute(
            select(HelplineContact.id)
            .where(HelplineContact.anonymised_at.is_(None), HelplineContact.contact_at < cutoff)
            .limit(1)
        ).first()
        if due is None and not case_retention.anything_due(session, cutoff, today):
            return
        jobs.enqueue(
            session,
            "helpline.anonymise",
            {},
            dedupe_key=f"helpline-anonymise:{today:%Y-%m-%d}",
            max_attempts=services.settings.job_max_attempts,
        )

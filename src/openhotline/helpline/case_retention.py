"""Retention of cases, tasks, referrals and conversations (called by the anonymise job).

They follow the contacts' rule (helpline/tasks.py): past the retention period their details
go and their times are coarsened to the month.
- An SMS/WhatsApp conversation silent for REPLY_ADDRESS_DAYS (nobody ended it) loses its
  encrypted reply address.
- A conversation that started before the cutoff loses its transcript (the messages are
  deleted), its reply address, caller key, web chat token and counsellor.
- A case whose last activity is before the cutoff, and none of whose contacts is still
  waiting (a pending escalation keeps a contact, and so its case), loses its summary,
  caller key, counsellor and task texts, and is closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, exists, func, select, update
from sqlalchemy.orm import Session

from openhotline.helpline.case_models import (
    CaseContact,
    CaseStatus,
    Conversation,
    ConversationMessage,
    HelplineCase,
)
from openhotline.helpline.models import HelplineContact

BATCH = 500
# An SMS/WhatsApp conversation nobody ended keeps its (encrypted) reply address only this
# long after the caller's last message; then the address is erased (no reply possible).
REPLY_ADDRESS_DAYS = 7


def _month(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    at = at.astimezone(UTC)
    return datetime(at.year, at.month, 1, tzinfo=UTC)


@dataclass(frozen=True)
class CaseRetentionResult:
    """How many conversations and cases were anonymised."""

    conversations: int
    cases: int


def anonymise_conversations(session: Session, cutoff: datetime, now: datetime) -> int:
    """Anonymise conversations started before cutoff; return how many."""
    due = (
        select(Conversation)
        .where(Conversation.anonymised_at.is_(None), Conversation.started_at < cutoff)
        .order_by(Conversation.id)
        .limit(BATCH)
    )
    done = 0
    while batch := session.execute(due).scalars().all():
        for conv in batch:
            conv.messages.clear()  # the transcript goes (delete-orphan)
            conv.reply_to_enc = None
            conv.caller_key = None
            conv.token_hash = None
            conv.counsellor = None
            conv.started_at = _month(conv.started_at) or conv.started_at
            conv.waiting_since = _month(conv.waiting_since)
            conv.picked_up_at = _month(conv.picked_up_at)
            conv.ended_at = _month(conv.ended_at)
            conv.anonymised_at = now
        done += len(batch)
        session.flush()
    return done


def anonymise_cases(session: Session, cutoff: datetime, now: datetime) -> int:
    """Anonymise cases idle since before cutoff (see the module text); return how many."""
    waiting_contact = (
        exists()
        .where(CaseContact.case_id == HelplineCase.id)
        .where(HelplineContact.id == CaseContact.contact_id)
        .where(HelplineContact.anonymised_at.is_(None))
    )
    due = (
        select(HelplineCase)
        .where(
            HelplineCase.anonymised_at.is_(None),
            HelplineCase.updated_at < cutoff,
            ~waiting_contact,
        )
        .order_by(HelplineCase.id)
        .limit(BATCH)
    )
    done = 0
    while batch := session.execute(due).scalars().all():
        for case in batch:
            case.summary_enc = None
            case.caller_key = None
            case.counsellor = None
            if case.status != CaseStatus.CLOSED:
                case.status = CaseStatus.CLOSED
                case.closed_at = case.updated_at
            case.opened_at = _month(case.opened_at) or case.opened_at
            case.updated_at = _month(case.updated_at) or case.updated_at
            case.closed_at = _month(case.closed_at)
            for task in case.tasks:
                task.title_enc = None
                task.created_by = None
                task.created_at = _month(task.created_at) or task.created_at
                task.due_at = _month(task.due_at) or task.due_at
                task.done_at = _month(task.done_at)
            for ref in case.case_referrals:
                ref.made_at = _month(ref.made_at) or ref.made_at
                ref.outcome_at = _month(ref.outcome_at)
            case.anonymised_at = now
        done += len(batch)
        session.flush()
    return done


def _stale_reply_addresses(now: datetime) -> Select[int]:
    last_message = (
        select(func.max(ConversationMessage.at))
        .where(ConversationMessage.conversation_id == Conversation.id)
        .scalar_subquery()
    )
    return select(Conversation.id).where(
        Conversation.reply_to_enc.is_not(None),
        last_message < now - timedelta(days=REPLY_ADDRESS_DAYS),
    )


def erase_stale_reply_addresses(session: Session, now: datetime) -> int:
    """Erase the reply address of conversations silent for REPLY_ADDRESS_DAYS."""
    ids = list(session.execute(_stale_reply_addresses(now)).scalars().all())
    if ids:
        session.execute(
            update(Conversation).where(Conversation.id.in_(ids)).values(reply_to_enc=None)
        )
    return len(ids)


def anonymise(session: Session, cutoff: datetime, now: datetime) -> CaseRetentionResult:
    """Conversations first, then cases (run after the contacts in the same transaction)."""
    erase_stale_reply_addresses(session, now)
    return CaseRetentionResult(
        anonymise_conversations(session, cutoff, now), anonymise_cases(session, cutoff, now)
    )


def anything_due(session: Session, cutoff: datetime, now: datetime | None = None) -> bool:
    """Whether a conversation or case waits for anonymisation (or a stale reply address)."""
    if now is not None and session.execute(_stale_reply_addresses(now).limit(1)).first():
        return True
    conv = session.execute(
        select(Conversation.id)
        .where(Conversation.anonymised_at.is_(None), Conversation.started_at < cutoff)
        .limit(1)
    ).first()
    if conv is not None:
        return True
    case = session.execute(
        select(HelplineCase.id)
        .where(HelplineCase.anonymised_at.is_(None), HelplineCase.updated_at < cutoff)
        .limit(1)
    ).first()
    return case is not None

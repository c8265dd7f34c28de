"""Tables of helpline cases and live conversations (channels).

A **case** follows one caller over several contacts: status, assigned counsellor, follow-up
tasks, referrals and their outcome, an encrypted counsellor summary. It is found again by
the caller's **returning-caller key** (helpline/callerkey.py): an HMAC of the channel
identity (phone number, WhatsApp id) under a key that rotates every calendar year. The
identity itself is never stored.

A **conversation** is one live exchange on a channel (SMS, WhatsApp, web chat): its
messages (the transcript) are encrypted with the helpline cipher. While an SMS or WhatsApp
conversation is live, the address to reply to is kept encrypted on it (the provider needs
it to deliver a reply); it is erased when the conversation ends. Web chats have no address
and no caller key: a random token in the page's URL is their only handle, stored hashed.

Retention: the anonymisation job (helpline/tasks.py) treats cases, tasks, referrals and
conversations like contacts (helpline/case_retention.py).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from openhotline.db import Base, EnumString, UTCDateTime, utcnow
from openhotline.helpline.models import HelplineContact


class CaseStatus(StrEnum):
    """Where a helpline case stands."""

    OPEN = "open"
    WAITING = "waiting"  # waiting on the caller or an agency
    CLOSED = "closed"


class ConversationStatus(StrEnum):
    """Where a live conversation stands."""

    WAITING = "waiting"  # in the inbox, nobody has picked it up
    ACTIVE = "active"  # a counsellor is talking
    ENDED = "ended"


class HelplineCase(Base):
    """One caller followed over several contacts."""

    __tablename__ = "helpline_cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)  # AES-GCM associated data
    mode: Mapped[str] = mapped_column(String(20), index=True)
    status: Mapped[CaseStatus] = mapped_column(
        EnumString(CaseStatus, 20), default=CaseStatus.OPEN, index=True
    )
    counsellor: Mapped[str | None] = mapped_column(String(64), index=True)
    # HMAC-SHA256 (hex) of the caller's channel identity under the year's key; never the
    # identity. None for web chats and cases opened by hand.
    caller_key: Mapped[str | None] = mapped_column(String(64), index=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    summary_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    links: Mapped[list[CaseContact]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseContact.id"
    )
    tasks: Mapped[list[CaseTask]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseTask.id"
    )
    case_referrals: Mapped[list[CaseReferral]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseReferral.id"
    )


class CaseContact(Base):
    """A contact belonging to a case (a contact belongs to at most one case)."""

    __tablename__ = "helpline_case_contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("helpline_cases.id"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("helpline_contacts.id"), unique=True)

    case: Mapped[HelplineCase] = relationship(back_populates="links")
    contact: Mapped[HelplineContact] = relationship()


class CaseTask(Base):
    """A follow-up task of a case with a due date (open until done)."""

    __tablename__ = "helpline_case_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("helpline_cases.id"), index=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    title_enc: Mapped[bytes | None] = mapped_column(LargeBinary)  # encrypted; None once anonymised
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case: Mapped[HelplineCase] = relationship(back_populates="tasks")


class CaseReferral(Base):
    """A referral made for a case (an agency code of the taxonomy) and its outcome."""

    __tablename__ = "helpline_case_referrals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("helpline_cases.id"), index=True)
    agency: Mapped[str] = mapped_column(String(40))
    made_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(20), default="pending")
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case: Mapped[HelplineCase] = relationship(back_populates="case_referrals")


class Conversation(Base):
    """One live conversation on a channel; ends as a contact record linked to a case."""

    __tablename__ = "helpline_conversations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    mode: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(20), index=True)  # sms, whatsapp, chat, phone
    status: Mapped[ConversationStatus] = mapped_column(
        EnumString(ConversationStatus, 20), default=ConversationStatus.WAITING, index=True
    )
    caller_key: Mapped[str | None] = mapped_column(String(64), index=True)
    # Web chat: SHA-256 (hex) of the random token in the page URL.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # SMS/WhatsApp: the reply address, encrypted, erased when the conversation ends.
    reply_to_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    counsellor: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    picked_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("helpline_cases.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("helpline_contacts.id"))
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # Phone calls: SHA-256 of the provider's call id (status callbacks find the call by it;
    # the id itself is not kept), the provider's last call status and the call's length.
    provider_ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    call_status: Mapped[str | None] = mapped_column(String(20))
    call_seconds: Mapped[int | None] = mapped_column(Integer)

    messages: Mapped[list[ConversationMessage]] = relationship(
        back_populates="conversation",
        cascade="all, delete-orphan",
        order_by="ConversationMessage.id",
    )


class ConversationMessage(Base):
    """One message of a conversation's transcript (encrypted)."""

    __tablename__ = "helpline_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("helpline_conversations.id"), index=True
    )
    ref: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(3))  # "in" (caller) or "out" (counsellor)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    body_enc: Mapped[bytes] = mapped_column(LargeBinary)
    # SHA-256 (hex) of the provider's message id: a replayed webhook is recognised.
    dedupe_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    delivered: Mapped[str | None] = mapped_column(String(20))  # outbound: "sent"/"failed"

    conversation: Mapped[Conversation] = relationship(back_populates="messages")

    __table_args__ = (UniqueConstraint("conversation_id", "ref"),)

"""Notices to hosts (with every send), and referrals to police or partner hotlines."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openhotline.db import Base, EnumString, UTCDateTime, utcnow


class NoticeStatus(StrEnum):
    """Where a notice stands."""

    HELD = "held"  # "police first": waits until police clear it
    QUEUED = "queued"  # due for (re-)sending at next_due_at
    PAUSED = "paused"  # stopped by staff; resumes where it was
    DONE = "done"  # content removed; no more sends
    CANCELLED = "cancelled"


class Notice(Base):
    """A takedown request for one case to one recipient role (host, or CDN)."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    trace_id: Mapped[int | None] = mapped_column(ForeignKey("hosting_traces.id"))
    role: Mapped[str] = mapped_column(String(20), default="host")  # "host" or "cdn"
    recipient: Mapped[str] = mapped_column(String(320), index=True)
    host: Mapped[str] = mapped_column(String(260))
    country: Mapped[str | None] = mapped_column(String(2))
    language: Mapped[str] = mapped_column(String(10), default="en")
    status: Mapped[NoticeStatus] = mapped_column(
        EnumString(NoticeStatus, 20), default=NoticeStatus.QUEUED, index=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    escalation: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    first_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    host_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("case_id", "role", name="uq_notices_case_role"),)


class NoticeSendState(StrEnum):
    """Where one send stands: recorded before SMTP, confirmed after (at-most-once)."""

    SENDING = "sending"  # recorded, handed to SMTP; uncertain if it stays so (worker killed)
    SENT = "sent"  # the SMTP server accepted it
    FAILED = "failed"  # refused before delivery (no connection, sender/recipients refused)
    UNCERTAIN = "uncertain"  # SMTP failed mid-transaction: may or may not have arrived
    RESENT = "resent"  # an operator had an uncertain send sent again


class NoticeSend(Base):
    """One e-mail that carried a notice (a batch e-mail carries several)."""

    __tablename__ = "notice_sends"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    recipient: Mapped[str] = mapped_column(String(320))
    cc: Mapped[str] = mapped_column(Text, default="[]")
    attempt: Mapped[int] = mapped_column(Integer)
    escalation: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[str] = mapped_column(String(200))
    # When the send was recorded (just before it was handed to SMTP).
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[NoticeSendState] = mapped_column(
        EnumString(NoticeSendState, 20), default=NoticeSendState.SENT, server_default="sent"
    )
    error: Mapped[str | None] = mapped_column(Text)


class ReferralKind(StrEnum):
    """Who a case is referred to."""

    POLICE = "police"
    PARTNER_HOTLINE = "partner_hotline"
    INTERNATIONAL_POLICE = "international_police"


class ReferralStatus(StrEnum):
    """Whether a referral has left this hotline."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # delivery failed for good (e.g. NCMEC refused it); detail says why


class Referral(Base):
    """A case passed to police or a partner hotline; sent by the exchange (another issue)."""

    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[ReferralKind] = mapped_column(EnumString(ReferralKind, 30))
    destination: Mapped[str] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(2))
    status: Mapped[ReferralStatus] = mapped_column(
        EnumString(ReferralStatus, 20), default=ReferralStatus.PENDING, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # For police referrals under "police first": when police cleared the notice to the host.
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    detail: Mapped[str | None] = mapped_column(Text)
    # The police channel (openhotline.police): what the receiving police did, and when.
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision: Mapped[str] = mapped_column(String(20), default="", server_default="")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    hold_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("case_id", "kind", name="uq_referrals_case_kind"),)

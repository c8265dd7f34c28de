"""Tables of federation: referrals (both directions) and the outbox of messages to send."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openhotline.db import Base, EnumString, UTCDateTime, utcnow


class ReferralStatus(StrEnum):
    """Where a referral stands at the receiving hotline (ordered)."""

    PENDING = "pending"  # queued here, not yet accepted by the peer
    RECEIVED = "received"
    ASSESSED = "assessed"
    NOTICE_SENT = "notice_sent"
    REMOVED = "removed"
    CLOSED = "closed"


STATUS_RANK = {s: i for i, s in enumerate(ReferralStatus)}


class Referral(Base):
    """A case referred to a peer hotline (direction out) or by one (direction in)."""

    __tablename__ = "federation_referrals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    referral_id: Mapped[str] = mapped_column(String(36))
    direction: Mapped[str] = mapped_column(String(3))  # "out" or "in"
    peer: Mapped[str] = mapped_column(String(2))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    status: Mapped[ReferralStatus] = mapped_column(
        EnumString(ReferralStatus, 20), default=ReferralStatus.PENDING
    )
    # Inbound: the last status we queued back to the sender.
    reported_status: Mapped[ReferralStatus | None] = mapped_column(EnumString(ReferralStatus, 20))
    # The signed body as received or sent (URLs, trace, classification, hashes).
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("direction", "referral_id", name="uq_federation_referrals_dir_id"),
    )


class OutboxMessage(Base):
    """A message to a peer, kept until the peer acknowledges it (never lost, retried)."""

    __tablename__ = "federation_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    peer: Mapped[str] = mapped_column(String(2))
    kind: Mapped[str] = mapped_column(String(20))  # "referral" or "status"
    body: Mapped[str] = mapped_column(Text)  # canonical JSON, signed when sent
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_federation_outbox_due", "delivered_at", "next_attempt_at"),)

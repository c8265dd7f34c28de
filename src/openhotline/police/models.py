"""Tables of the police channel: one row per police partner that receives referrals."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from openhotline.db import Base, UTCDateTime, utcnow


class PoliceChannel(Base):
    """A police partner's channel: which referrals it receives, its SLAs, its release rule."""

    __tablename__ = "police_channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("partner_orgs.id"), unique=True)
    # The referral destination it receives (settings.police_destination and the like).
    destination: Mapped[str] = mapped_column(String(200), unique=True)
    ack_hours: Mapped[int] = mapped_column(Integer, default=24)  # SLA: acknowledge within
    decide_hours: Mapped[int] = mapped_column(Integer, default=72)  # SLA: clear or hold within
    # Release held notices to the host after this many hours without a decision (None: never).
    auto_release_hours: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

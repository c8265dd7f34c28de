"""Tables of the workbench: the directory of hosting providers, and which host a case is on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from openhotline.db import Base, UTCDateTime, utcnow


class HostProvider(Base):
    """A hosting provider the hotline sends notices to, with how it wants to be reached."""

    __tablename__ = "host_providers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # Its autonomous system, so traced cases are matched to it without a person.
    asn: Mapped[int | None] = mapped_column(Integer, index=True)
    abuse_email: Mapped[str | None] = mapped_column(String(320))
    channel: Mapped[str] = mapped_column(String(20), default="email")  # email, portal, api
    language: Mapped[str] = mapped_column(String(10), default="en")
    # Trusted-flagger (or abuse) portal where notices go when the channel is "portal".
    portal_url: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseHost(Base):
    """The provider staff picked for a case from the directory (one per case)."""

    __tablename__ = "case_hosts"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("host_providers.id"), index=True)
    picked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    picked_by: Mapped[str] = mapped_column(String(200))

"""One row per hosting trace of a case (re-run before a notice is re-sent)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from openhotline.db import Base, UTCDateTime, utcnow


class HostingTrace(Base):
    """Where a case's content was hosted at one point in time."""

    __tablename__ = "hosting_traces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    traced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    host: Mapped[str] = mapped_column(String(260))
    # JSON list of every address the name resolved to; ip is the one traced.
    ips: Mapped[str] = mapped_column(Text, default="[]")
    ip: Mapped[str | None] = mapped_column(String(45))
    country: Mapped[str | None] = mapped_column(String(2), index=True)
    asn: Mapped[int | None] = mapped_column(Integer)
    as_org: Mapped[str | None] = mapped_column(String(200))
    network: Mapped[str | None] = mapped_column(String(100))
    network_name: Mapped[str | None] = mapped_column(String(200))
    abuse_email: Mapped[str | None] = mapped_column(String(320))
    registrar_abuse_email: Mapped[str | None] = mapped_column(String(320))
    # Name of the CDN when the address is in a known CDN range (then notice it, ask origin).
    cdn: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str | None] = mapped_column(Text)

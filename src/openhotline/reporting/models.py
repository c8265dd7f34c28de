"""Tables of the reporting domain: Report and ReportURL (cases live in openhotline.cases)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from openhotline.cases.models import Case
from openhotline.db import Base, UTCDateTime, utcnow


class Report(Base):
    """One submission (public or partner); never deleted silently."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    receipt: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # "public", or "partner:<name>" for authenticated submissions.
    source: Mapped[str] = mapped_column(String(100), default="public")
    # A partner's own identifier, so retried batches don't create duplicates.
    external_id: Mapped[str | None] = mapped_column(String(200))
    seen: Mapped[str | None] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text, default="")
    found_where: Mapped[str | None] = mapped_column(Text)
    child_in_danger: Mapped[bool] = mapped_column(Boolean, default=False)
    # Only stored when the reporter explicitly consents (contact_consent).
    contact_email: Mapped[str | None] = mapped_column(String(320))
    contact_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    # The language of the form, kept only with a consented address: the one e-mail uses it.
    language: Mapped[str | None] = mapped_column(String(8))
    # When the one feedback e-mail went; contact_email is erased at the same time.
    feedback_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    urls: Mapped[list[ReportURL]] = relationship(
        back_populates="report", order_by="ReportURL.position"
    )

    __table_args__ = (Index("ix_reports_source_external", "source", "external_id", unique=True),)


class ReportURL(Base):
    """One URL of a report, as typed, linked to its case."""

    __tablename__ = "report_urls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    submitted_url: Mapped[str] = mapped_column(Text)

    report: Mapped[Report] = relationship(back_populates="urls")
    case: Mapped[Case] = relationship()


class IntakeIdempotencyKey(Base):
    """A report submission's Idempotency-Key, so a retried request files nothing new.

    Only digests and the answer are kept: the key is hashed with its scope (public, or the
    partner), the body is a digest; no address or other identifying data.
    """

    __tablename__ = "intake_idempotency_keys"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    body_hash: Mapped[str] = mapped_column(String(64))
    # The JSON answer the first request got (a receipt, or a batch's per-item results).
    response: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

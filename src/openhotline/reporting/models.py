"""Tables of the reporting domain: Report, ReportURL, Case, CaseEvent."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from openhotline.db import Base, UTCDateTime, utcnow


class CaseStatus(StrEnum):
    """Internal lifecycle of a case; every change is recorded as a CaseEvent."""

    NEW = "new"  # received, not yet captured or assessed
    TRIAGE = "triage"  # captured and waiting in the analysts' queue
    ASSESSING = "assessing"  # an analyst is working it
    ASSESSED = "assessed"  # graded illegal, waiting for action (confirmation, trace)
    ACTIONED = "actioned"  # notice sent or referred
    REMOVED = "removed"  # confirmed gone at source
    CLOSED = "closed"  # nothing (more) to do: not illegal, not found, out of remit


class PublicStatus(StrEnum):
    """The coarse status a reporter may see with a receipt code, and nothing more."""

    RECEIVED = "received"
    BEING_ASSESSED = "being assessed"
    ACTIONED = "actioned"
    CLOSED = "closed"


PUBLIC_STATUS_OF: dict[CaseStatus, PublicStatus] = {
    CaseStatus.NEW: PublicStatus.RECEIVED,
    CaseStatus.TRIAGE: PublicStatus.BEING_ASSESSED,
    CaseStatus.ASSESSING: PublicStatus.BEING_ASSESSED,
    CaseStatus.ASSESSED: PublicStatus.BEING_ASSESSED,
    CaseStatus.ACTIONED: PublicStatus.ACTIONED,
    CaseStatus.REMOVED: PublicStatus.ACTIONED,
    CaseStatus.CLOSED: PublicStatus.CLOSED,
}

PRIORITY_NORMAL = 0
PRIORITY_CHILD_IN_DANGER = 100


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

    urls: Mapped[list[ReportURL]] = relationship(
        back_populates="report", order_by="ReportURL.position"
    )

    __table_args__ = (Index("ix_reports_source_external", "source", "external_id", unique=True),)


class Case(Base):
    """One canonical URL under work; many reports may point at it."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    canonical_url: Mapped[str] = mapped_column(Text)
    # SHA-256 of the canonical URL: a fixed-size unique key (URLs can exceed index limits).
    url_hash: Mapped[str] = mapped_column(String(64), unique=True)
    host: Mapped[str] = mapped_column(String(260), index=True)
    status: Mapped[str] = mapped_column(String(20), default=CaseStatus.NEW.value, index=True)
    priority: Mapped[int] = mapped_column(Integer, default=PRIORITY_NORMAL, index=True)
    report_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Milestones, so time-to-X is a subtraction (the full history is in case_events).
    first_assessed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    actioned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    events: Mapped[list[CaseEvent]] = relationship(back_populates="case", order_by="CaseEvent.id")


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


class CaseEvent(Base):
    """A timestamped change of a case (status or milestone), append-only."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    actor: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[str | None] = mapped_column(Text)

    case: Mapped[Case] = relationship(back_populates="events")

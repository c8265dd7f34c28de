"""Tables of the case lifecycle: Case (one canonical URL under work) and CaseEvent."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from openhotline.db import Base, EnumString, UTCDateTime, utcnow


class CaseStatus(StrEnum):
    """Internal lifecycle of a case; every change goes through cases.service.move()."""

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


class CaseEventKind(StrEnum):
    """What a case event records; stored as these strings in case_events.kind."""

    RECEIVED = "received"  # the case was created by a report
    RE_REPORTED = "re-reported"  # another report arrived for an existing case
    STATUS = "status"  # a move through the transition table
    CAPTURED = "captured"
    CAPTURE_FAILED = "capture_failed"
    EVIDENCE_UPLOADED = "evidence_uploaded"  # an analyst or partner added a file
    RECAPTURE_REQUESTED = "recapture_requested"  # an analyst asked for a rendered capture
    RENDERED = "rendered"  # a rendered capture stored its screenshot, HTML and WARC
    MEDIA_FILTERED = "media_filtered"  # icons and tiny images dropped, with their count
    TRACED = "traced"
    ROUTED = "routed"
    POLICE_CLEARED = "police_cleared"
    NOTICE_RETARGETED = "notice_retargeted"
    NOTICE_SENT = "notice_sent"
    NOTICE_POSTPONED = "notice_postponed"
    HOST_CONFIRMED = "host_confirmed"
    RECHECKED = "rechecked"
    REFERRAL_QUEUED = "referral.queued"
    REFERRAL_RECEIVED = "referral.received"
    REFERRAL_STATUS = "referral.status"
    NOTE = "note"  # a staff note on the case (console)
    CONTACT_OVERRIDDEN = "contact_overridden"  # the notice recipient was set by hand
    POLICE_HELD = "police_held"  # notices held until police clear them
    NOTICE_CHANGED = "notice_changed"  # a notice paused, resumed, cancelled or re-sent by hand
    NOT_REMOVED = "not_removed"  # staff found the content still online (with a reason)


PRIORITY_NORMAL = 0
PRIORITY_CHILD_IN_DANGER = 100


class Case(Base):
    """One canonical URL under work; many reports may point at it."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    canonical_url: Mapped[str] = mapped_column(Text)
    # SHA-256 of the canonical URL: a fixed-size unique key (URLs can exceed index limits).
    url_hash: Mapped[str] = mapped_column(String(64), unique=True)
    host: Mapped[str] = mapped_column(String(260), index=True)
    # Only cases.service.move() assigns this (tests/cases scan the source for other writers).
    status: Mapped[CaseStatus] = mapped_column(
        EnumString(CaseStatus, 20), default=CaseStatus.NEW, index=True
    )
    priority: Mapped[int] = mapped_column(Integer, default=PRIORITY_NORMAL, index=True)
    report_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Milestones, so time-to-X is a subtraction (the full history is in case_events).
    first_assessed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    actioned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by police holds or supervisors: no retention purge touches the case or its data.
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    events: Mapped[list[CaseEvent]] = relationship(back_populates="case", order_by="CaseEvent.id")


class CaseEvent(Base):
    """A timestamped change of a case (status or milestone), append-only."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[CaseEventKind] = mapped_column(EnumString(CaseEventKind, 40))
    from_status: Mapped[CaseStatus | None] = mapped_column(EnumString(CaseStatus, 20))
    to_status: Mapped[CaseStatus | None] = mapped_column(EnumString(CaseStatus, 20))
    actor: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[str | None] = mapped_column(Text)

    case: Mapped[Case] = relationship(back_populates="events")

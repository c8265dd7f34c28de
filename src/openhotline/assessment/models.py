"""Tables of assessment: grades, each item's review state, claims, reveals, settings."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from openhotline.db import Base, EnumString, UTCDateTime, utcnow


class ReviewState(StrEnum):
    """Where an item stands in four-eyes review."""

    OPEN = "open"  # nobody has graded it yet
    CONFIRMING = "confirming"  # graded illegal; waits for more distinct analysts to agree
    DISPUTED = "disputed"  # analysts disagreed: a supervisor decides
    DECIDED = "decided"  # final (by analysts, a supervisor, or automatically)


class AssessmentKind(StrEnum):
    """Who made a grade."""

    GRADE = "grade"  # an analyst (the first grade or a confirmation)
    SUPERVISOR = "supervisor"  # a supervisor resolving a dispute
    AUTOMATIC = "automatic"  # a match against a confirmed bank: nobody looked


class Assessment(Base):
    """One grade of one item under a classification scheme (append-only)."""

    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[AssessmentKind] = mapped_column(EnumString(AssessmentKind, 20))
    scheme: Mapped[str] = mapped_column(String(40))
    classification: Mapped[str] = mapped_column(String(40))
    illegal: Mapped[bool] = mapped_column(Boolean)
    # Grading field values as JSON text (age band, site type, commercial...).
    fields: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ItemReview(Base):
    """The four-eyes state of one item (one row per item that entered review)."""

    __tablename__ = "item_reviews"

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True)
    state: Mapped[ReviewState] = mapped_column(
        EnumString(ReviewState, 20), default=ReviewState.OPEN, index=True
    )
    # The proposed (CONFIRMING) or final (DECIDED) classification.
    classification: Mapped[str | None] = mapped_column(String(40))
    illegal: Mapped[bool | None] = mapped_column(Boolean)
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Claim(Base):
    """An analyst working on an item; one claim per item, until it expires or is released."""

    __tablename__ = "item_claims"

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Reveal(Base):
    """An unblurred view of one item: counts toward the analyst's daily exposure budget.

    Time counted = min(closed_at or now, ends_at) - started_at.
    """

    __tablename__ = "reveals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # For a video item: which sampled frame of its contact sheet was revealed (None: the
    # item itself). Each revealed frame is its own reveal, so each counts once.
    frame: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (Index("ix_reveals_user_started", "user_id", "started_at"),)


class PolicySetting(Base):
    """A runtime override of an assessment setting, changed by an administrator (audited)."""

    __tablename__ = "assessment_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200))


class UrlDecision(Base):
    """One analyst's grade of a case's URL as a whole, when nothing could be captured."""

    __tablename__ = "url_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[AssessmentKind] = mapped_column(EnumString(AssessmentKind, 20))
    scheme: Mapped[str] = mapped_column(String(40))
    classification: Mapped[str] = mapped_column(String(40))
    illegal: Mapped[bool] = mapped_column(Boolean)
    fields: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UrlReview(Base):
    """The four-eyes state of a case's URL-level decision (one row once someone decided)."""

    __tablename__ = "url_reviews"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    state: Mapped[ReviewState] = mapped_column(
        EnumString(ReviewState, 20), default=ReviewState.OPEN, index=True
    )
    classification: Mapped[str | None] = mapped_column(String(40))
    illegal: Mapped[bool | None] = mapped_column(Boolean)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

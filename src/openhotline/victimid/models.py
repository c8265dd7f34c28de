"""Tables of victim identification: series, their items, suggestions, alerts, packages.

A series groups items (images and videos) of the same victim, offender, place or
production. A series imported from a known-series list or from another hotline has no items
here: its hashes live in a hash bank (known_bank_id) with entries sourced "series:<ref>".
Notes and clues are AES-GCM encrypted (bound to the series and field) and only the
victim-identification role reads them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openhotline.db import Base, EnumString, UTCDateTime, utcnow


class SeriesKind(StrEnum):
    """What the items of a series have in common."""

    VICTIM = "victim"
    OFFENDER = "offender"
    PLACE = "place"
    PRODUCTION = "production"


class VictimStatus(StrEnum):
    """Whether the victim of a series is identified (the ICSE flag)."""

    IDENTIFIED = "identified"
    NOT_IDENTIFIED = "not_identified"
    UNKNOWN = "unknown"


class SuggestionState(StrEnum):
    """A "possibly related" item waits for a person: it is never linked automatically."""

    OPEN = "open"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class Series(Base):
    """One series with its victim-identification fields."""

    __tablename__ = "vid_series"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[SeriesKind] = mapped_column(EnumString(SeriesKind, 20), default=SeriesKind.VICTIM)
    title: Mapped[str] = mapped_column(String(200), default="")
    victim_status: Mapped[VictimStatus] = mapped_column(
        EnumString(VictimStatus, 20), default=VictimStatus.UNKNOWN, index=True
    )
    police_reference: Mapped[str] = mapped_column(String(100), default="")
    new_material_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    age_band: Mapped[str] = mapped_column(String(20), default="")  # the scheme's age band
    sex: Mapped[str] = mapped_column(String(20), default="")
    notes_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    clues_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    # "local", "list:<bank>" (a known-series list), "hotline:<name>" (an imported package).
    origin: Mapped[str] = mapped_column(String(200), default="local")
    known_bank_id: Mapped[int | None] = mapped_column(
        ForeignKey("hash_banks.id", ondelete="SET NULL")
    )
    merged_into_id: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SeriesItem(Base):
    """An item a person put into a series."""

    __tablename__ = "vid_series_items"
    __table_args__ = (UniqueConstraint("series_id", "item_id", name="uq_vid_series_items"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("vid_series.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    how: Mapped[str] = mapped_column(String(200), default="manual")
    added_by: Mapped[str] = mapped_column(String(100), default="")
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Suggestion(Base):
    """An item possibly related to a series, with the signal that found it."""

    __tablename__ = "vid_suggestions"
    __table_args__ = (UniqueConstraint("series_id", "item_id", name="uq_vid_suggestions"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("vid_series.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    signal: Mapped[str] = mapped_column(String(200))
    state: Mapped[SuggestionState] = mapped_column(
        EnumString(SuggestionState, 20), default=SuggestionState.OPEN, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[str] = mapped_column(String(100), default="")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SeriesMatch(Base):
    """An item matched to a series by hash (a known-series list or a member's near copy)."""

    __tablename__ = "vid_matches"
    __table_args__ = (UniqueConstraint("item_id", "series_id", name="uq_vid_matches"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("vid_series.id"), index=True)
    via: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Alert(Base):
    """New material of a series whose victim is not identified: for the VID queue."""

    __tablename__ = "vid_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("vid_series.id"), index=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"))
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    package_id: Mapped[int | None] = mapped_column(Integer)
    acknowledged_by: Mapped[str] = mapped_column(String(100), default="")
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class PolicePackage(Base):
    """A signed series package waiting for (or fetched by) the police partner."""

    __tablename__ = "vid_packages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    export_id: Mapped[str] = mapped_column(String(36), unique=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("vid_series.id"), index=True)
    destination: Mapped[str] = mapped_column(String(100), index=True)  # partner org name
    reason: Mapped[str] = mapped_column(String(200), default="")
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ScanState(Base):
    """How far the new-material scan has read the items table (one row)."""

    __tablename__ = "vid_scan_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_item_id: Mapped[int] = mapped_column(Integer, default=0)

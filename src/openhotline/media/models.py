"""Tables of the media domain: Item (identified by SHA-256) and where it was seen."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from openhotline.db import Base, EnumString, UTCDateTime, utcnow


class ItemStatus(StrEnum):
    """Where an item stands in assessment."""

    NEW = "new"  # stored and hashed, not yet matched
    TRIAGE = "triage"  # unknown content: waits for an analyst
    AUTO_ASSESSED = "auto_assessed"  # matched a confirmed bank: no human needs to look
    ASSESSED = "assessed"  # graded by analysts


class Item(Base):
    """One piece of media, identified by the SHA-256 of its bytes."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    md5: Mapped[str] = mapped_column(String(32), index=True)
    sha1: Mapped[str] = mapped_column(String(40), index=True)
    size: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(100), default="application/octet-stream")
    # PDQ (64 hex chars) and its quality; weak (quality < 50) items are not matched by PDQ alone.
    pdq: Mapped[str | None] = mapped_column(String(64), index=True)
    pdq_quality: Mapped[int | None] = mapped_column(Integer)
    weak: Mapped[bool] = mapped_column(Boolean, default=False)
    # Key of the encrypted blob in the media store; None when media is not kept.
    storage_key: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[ItemStatus] = mapped_column(
        EnumString(ItemStatus, 20), default=ItemStatus.NEW, index=True
    )
    # "crawler", "partner:<name>", "upload:<user>".
    source: Mapped[str] = mapped_column(String(100), default="crawler")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set by police holds or supervisors: no retention purge erases the item's media.
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # When retention erased the media (its storage key, hence its data key, is gone).
    media_erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CaseItem(Base):
    """An item seen at a case's URL (the same bytes can be found at many URLs)."""

    __tablename__ = "case_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    media_url: Mapped[str | None] = mapped_column(Text)
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("case_id", "item_id", name="uq_case_items_case_item"),)


class VideoState(StrEnum):
    """What became of a video item's frame hashes."""

    HASHED = "hashed"  # vPDQ frame hashes stored; matched by share of frames
    OFF = "off"  # video matching is off here (vpdq not installed): exact hashes only
    FAILED = "failed"  # the file could not be decoded as a video (detail says why)


class ItemVideo(Base):
    """A video item's vPDQ frame hashes (one hash a second, bounded), or why there are none."""

    __tablename__ = "item_videos"

    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[VideoState] = mapped_column(EnumString(VideoState, 20), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    frame_count: Mapped[int] = mapped_column(Integer, default=0)
    duration: Mapped[float] = mapped_column(Float, default=0.0)  # seconds, of the hashed part
    # vPDQ's own hash-file lines, "frame_number,quality,pdq_hex,timestamp" (media/video.py).
    frames: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

"""Tables of Report Remove: one request per uploaded image, and the analysts' reveals of it.

A request keeps the image's hashes for good (they are what platforms block); the image
itself lives encrypted in a one-item store under its own key (`image_key`), and both the key
and the file are deleted once the request is decided, expired or withdrawn.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from openhotline.db import Base, EnumString, UTCDateTime, utcnow


class RemovalStatus(StrEnum):
    """Where a request is; the child sees these in plain words on the status page."""

    RECEIVED = "received"  # uploaded and hashed; waiting for a counsellor
    IDENTITY_CONFIRMED = "identity_confirmed"  # age and identity confirmed; waiting for analyst
    COMPLETED = "completed"  # verified, hashes in the self-generated bank, image deleted
    DECLINED = "declined"  # the counsellor could not confirm age or identity
    REJECTED = "rejected"  # the analyst could not add the image to the list
    EXPIRED = "expired"  # nobody took it further in time; the image was deleted


OPEN_STATUSES = (RemovalStatus.RECEIVED, RemovalStatus.IDENTITY_CONFIRMED)


class RemovalRequest(Base):
    """One image a young person asked to have removed: hashes, progress, receipt."""

    __tablename__ = "removal_requests"
    __table_args__ = (Index("ix_removal_requests_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The receipt: a random reference shown to the child (and told to the counsellor), and
    # a secret shown once; only its SHA-256 is kept.
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[RemovalStatus] = mapped_column(EnumString(RemovalStatus, 20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Hashes of the image, computed at upload; they outlive the image.
    md5: Mapped[str] = mapped_column(String(32))
    sha1: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    pdq: Mapped[str] = mapped_column(String(64))
    pdq_quality: Mapped[int] = mapped_column(Integer)
    image_format: Mapped[str] = mapped_column(String(10))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    # The one-item store: the blob's id on disk and its own AES-256 key (base64). Deleting
    # the key makes the blob unreadable wherever a copy of it lies (crypto-shredding).
    blob_id: Mapped[str | None] = mapped_column(String(64))
    image_key: Mapped[str | None] = mapped_column(String(64))
    image_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The counsellor's step: who confirmed age (under 18) and identity, when and how. No
    # identity document or personal detail is stored.
    identity_by: Mapped[str] = mapped_column(String(100), default="")
    identity_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    identity_method: Mapped[str] = mapped_column(String(20), default="")
    # The analyst's step.
    verified_by: Mapped[str] = mapped_column(String(100), default="")
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    classification: Mapped[str] = mapped_column(String(100), default="")  # "<scheme>:<code>"
    shared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # hashes in the bank
    # Why a request ended without sharing: a fixed code, shown to the child in neutral words.
    closed_reason: Mapped[str] = mapped_column(String(30), default="")
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RemovalReveal(Base):
    """An analyst's unblurred view of one request's image; counts toward the exposure budget."""

    __tablename__ = "removal_reveals"
    __table_args__ = (Index("ix_removal_reveals_user_started", "user_id", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    request_id: Mapped[int] = mapped_column(
        ForeignKey("removal_requests.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

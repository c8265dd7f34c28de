"""Tables of the matching domain: banks, their entries, hints and subscriptions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from openhotline.db import Base, EnumString, UTCDateTime, utcnow
from openhotline.matching.policy import BankPolicy, BankSource

DEFAULT_PDQ_RADIUS = 31
# vPDQ's recommended thresholds (python-threatexchange's VPDQ signal): a video matches when at
# least this share of its (distinct, quality >= 50) frames match the bank video's frames ...
DEFAULT_VPDQ_FRAME_SHARE = 0.8
# ... and at least this share of the bank video's frames are matched (0: any part of it).
DEFAULT_VPDQ_TARGET_SHARE = 0.0

# Local-feature defaults of a bank (matching/features.py measures and explains them).
DEFAULT_FEATURE_MIN_INLIERS = 20
DEFAULT_FEATURE_RADIUS = 28


class HashType(StrEnum):
    """Signal types a bank can hold (names as in python-threatexchange)."""

    PDQ = "pdq"
    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"
    # A video's frame hashes; the entry's hash_value is the SHA-256 of its canonical vPDQ
    # text (matching/video.py), its frames are in bank_video_frames.
    VPDQ = "vpdq"


# The types a hash-list line can carry (a vpdq entry is a frame list: matching/video.py).
LIST_HASH_TYPES = (HashType.PDQ, HashType.MD5, HashType.SHA1, HashType.SHA256)

HEX_LENGTH: dict[HashType, int] = {
    HashType.PDQ: 64,
    HashType.MD5: 32,
    HashType.SHA1: 40,
    HashType.SHA256: 64,
    HashType.VPDQ: 64,
}


class HashBank(Base):
    """A named list of known hashes (own confirmed items, or imported from a partner)."""

    __tablename__ = "hash_banks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    pdq_radius: Mapped[int] = mapped_column(Integer, default=DEFAULT_PDQ_RADIUS)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Bumped on every change, so a persisted PDQ index knows whether it is current.
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    # What a match does (see matching/policy.py); imported banks start as review-with-hint.
    policy: Mapped[BankPolicy] = mapped_column(
        EnumString(BankPolicy, 20), default=BankPolicy.REVIEW_WITH_HINT,
        server_default=BankPolicy.REVIEW_WITH_HINT.value,
    )  # fmt: skip
    source: Mapped[BankSource] = mapped_column(
        EnumString(BankSource, 20), default=BankSource.IMPORTED,
        server_default=BankSource.IMPORTED.value,
    )  # fmt: skip
    # JSON object: the bank's classification code -> local "<scheme>:<code>".
    classification_map: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # vPDQ: the shares of frames a video match needs (query side, bank video side).
    vpdq_frame_share: Mapped[float] = mapped_column(
        Float, default=DEFAULT_VPDQ_FRAME_SHARE, server_default=str(DEFAULT_VPDQ_FRAME_SHARE)
    )
    vpdq_target_share: Mapped[float] = mapped_column(
        Float, default=DEFAULT_VPDQ_TARGET_SHARE, server_default=str(DEFAULT_VPDQ_TARGET_SHARE)
    )
    # The partner whose list this is: only that partner sees its entries' provenance.
    owner_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("partner_orgs.id", ondelete="SET NULL")
    )
    # Local features (own items, matching/features.py): tried when PDQ finds nothing.
    features_enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    features_min_inliers: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_FEATURE_MIN_INLIERS,
        server_default=str(DEFAULT_FEATURE_MIN_INLIERS),
    )  # fmt: skip
    features_radius: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_FEATURE_RADIUS, server_default=str(DEFAULT_FEATURE_RADIUS)
    )


class BankEntry(Base):
    """One hash in a bank, with where it came from and how it was classified."""

    __tablename__ = "bank_entries"
    __table_args__ = (
        # One live entry per hash and bank; removed entries stay as a trace.
        Index(
            "uq_bank_entries_live",
            "bank_id",
            "hash_type",
            "hash_value",
            unique=True,
            sqlite_where=text("removed_at IS NULL"),
            postgresql_where=text("removed_at IS NULL"),
        ),
        Index("ix_bank_entries_type_hash", "hash_type", "hash_value"),
        Index("ix_bank_entries_bank_removed", "bank_id", "removed_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("hash_banks.id", ondelete="CASCADE"))
    hash_type: Mapped[str] = mapped_column(String(10))
    hash_value: Mapped[str] = mapped_column(String(64))  # lower-case hex
    source: Mapped[str] = mapped_column(String(200), default="")
    classification: Mapped[str] = mapped_column(String(100), default="")
    added_by: Mapped[str] = mapped_column(String(100), default="")
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_by: Mapped[str] = mapped_column(String(100), default="")


class BankFeatures(Base):
    """The local features (ORB keypoints) of one own item in a bank; removed rows stay."""

    __tablename__ = "bank_features"
    __table_args__ = (
        Index(
            "uq_bank_features_live",
            "bank_id",
            "item_sha256",
            unique=True,
            sqlite_where=text("removed_at IS NULL"),
            postgresql_where=text("removed_at IS NULL"),
        ),
        Index("ix_bank_features_bank_removed", "bank_id", "removed_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("hash_banks.id", ondelete="CASCADE"))
    # The item's SHA-256 entry in the same bank: a features match reports it (classification).
    entry_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    item_sha256: Mapped[str] = mapped_column(String(64))
    keypoints: Mapped[int] = mapped_column(Integer, default=0)
    features: Mapped[bytes] = mapped_column(LargeBinary)  # features.Features.to_bytes()
    added_by: Mapped[str] = mapped_column(String(100), default="")
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_by: Mapped[str] = mapped_column(String(100), default="")


class BankHint(Base):
    """A match that did not assess its item: shown to analysts (hint) or only recorded."""

    __tablename__ = "bank_hints"
    __table_args__ = (Index("uq_bank_hints_item_entry", "item_id", "entry_id", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("hash_banks.id", ondelete="CASCADE"))
    entry_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    policy: Mapped[BankPolicy] = mapped_column(EnumString(BankPolicy, 20))
    hash_type: Mapped[str] = mapped_column(String(10))
    distance: Mapped[int] = mapped_column(Integer, default=0)
    classification: Mapped[str] = mapped_column(String(100), default="")  # the bank's own code
    local_classification: Mapped[str] = mapped_column(String(100), default="")  # "" if unmapped
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BankSubscription(Base):
    """A bank fed by another instance's signed hash list (see matching/subscriptions.py)."""

    __tablename__ = "bank_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bank_id: Mapped[int] = mapped_column(
        ForeignKey("hash_banks.id", ondelete="CASCADE"), unique=True
    )
    list_url: Mapped[str] = mapped_column(String(500))  # .../api/v1/lists/hashes
    # The partner API key stays in a file the operator controls; only its path is stored.
    api_key_file: Mapped[str] = mapped_column(String(500))
    verify_key: Mapped[str] = mapped_column(Text)  # pinned Ed25519 public key (base64 or PEM)
    interval_minutes: Mapped[int] = mapped_column(Integer, default=60)
    version: Mapped[int] = mapped_column(BigInteger, default=0)  # last applied list version
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="", server_default="")


class BankExchangeFeed(Base):
    """A bank fed through a python-threatexchange SignalExchangeAPI (matching/exchange_feed.py).

    `api` names the exchange; `collab` holds its collaboration settings as JSON (no secrets:
    APIs that need a key read it from a file or the environment themselves); `checkpoint`
    is the API's own checkpoint as JSON, "" before the first fetch.
    """

    __tablename__ = "bank_exchange_feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bank_id: Mapped[int] = mapped_column(
        ForeignKey("hash_banks.id", ondelete="CASCADE"), unique=True
    )
    api: Mapped[str] = mapped_column(String(200))
    collab: Mapped[str] = mapped_column(Text, default="{}")
    checkpoint: Mapped[str] = mapped_column(Text, default="")
    interval_minutes: Mapped[int] = mapped_column(Integer, default=60)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")


class BankVideoFrame(Base):
    """One frame hash of a vpdq bank entry; indexed like PDQ entries (matching/engine.py).

    Only usable frames are indexed (quality >= 50), all are kept for export. removed_at
    follows the entry's, so the frame index drops a removed video's frames.
    """

    __tablename__ = "bank_video_frames"
    __table_args__ = (
        Index("ix_bank_video_frames_bank_removed", "bank_id", "removed_at"),
        Index("ix_bank_video_frames_entry", "entry_id", "position"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("hash_banks.id", ondelete="CASCADE"))
    entry_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("bank_entries.id", ondelete="CASCADE"),
    )
    position: Mapped[int] = mapped_column(Integer)  # order within the video
    hash_value: Mapped[str] = mapped_column(String(64))  # the frame's PDQ, lower-case hex
    quality: Mapped[int] = mapped_column(Integer)
    frame_number: Mapped[int] = mapped_column(Integer)
    timestamp: Mapped[float] = mapped_column(Float)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

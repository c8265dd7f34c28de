"""Tables of the block list domain: list versions, entries (with their life span), appeals."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openhotline.db import Base, EnumString, UTCDateTime, utcnow


class ListKind(StrEnum):
    """The two published lists."""

    URLS = "urls"
    HASHES = "hashes"


class AppealStatus(StrEnum):
    """Where an appeal stands."""

    PENDING = "pending"
    UPHELD = "upheld"  # the URL leaves the list
    REJECTED = "rejected"  # the URL stays listed


class ListVersion(Base):
    """One published version of a list (numbered per list from 1)."""

    __tablename__ = "list_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[ListKind] = mapped_column(EnumString(ListKind, 10))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    entry_count: Mapped[int] = mapped_column(Integer, default=0)
    added_count: Mapped[int] = mapped_column(Integer, default=0)
    removed_count: Mapped[int] = mapped_column(Integer, default=0)
    # SHA-256 of the source's rows in key order when this version was (last) confirmed
    # current: an unchanged source is recognised without diffing (None before 1120).
    source_digest: Mapped[str | None] = mapped_column(String(64))
    # The source's change token (see ListSourceChanges) when this version was (last)
    # confirmed current: an equal token means the source was not even read (1170).
    source_token: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (UniqueConstraint("kind", "version", name="uq_list_versions_kind_version"),)


class ListSourceChanges(Base):
    """Change counters of the lists' sources: one row (id 1), moved by database triggers.

    Migration 1170 installs a trigger on every table a list's source reads (cases, hosting
    traces, banks and their entries, items, Report Remove requests) that moves the list's
    counter when a row that is or was relevant changes, in the writer's transaction. The
    triggers, not the services, keep it: a bulk update or raw SQL cannot slip past.
    """

    __tablename__ = "list_source_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Random per row: a re-created row never repeats a token an old version stored.
    epoch: Mapped[str] = mapped_column(String(32))
    urls: Mapped[int] = mapped_column(BigInteger, default=0)
    hashes: Mapped[int] = mapped_column(BigInteger, default=0)


class ListEntry(Base):
    """An entry of a list from the version that added it until the one that removed it.

    Version V holds the entries with added_version <= V and (removed_version is null or
    removed_version > V), so snapshots and deltas are plain queries and nothing is copied.
    """

    __tablename__ = "list_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[ListKind] = mapped_column(EnumString(ListKind, 10))
    # SHA-256 of the canonical URL (URL list) or of the item's bytes (hash list).
    key: Mapped[str] = mapped_column(String(64))
    url: Mapped[str | None] = mapped_column(Text)
    md5: Mapped[str | None] = mapped_column(String(32))
    sha1: Mapped[str | None] = mapped_column(String(40))
    pdq: Mapped[str | None] = mapped_column(String(64))
    # Hash list: the class ("<scheme>:<code>") and who vouches for it, as recipients see them.
    classification: Mapped[str | None] = mapped_column(String(100))
    provenance: Mapped[str | None] = mapped_column(String(100))
    # Hash list, a confirmed video: its vPDQ frames as python-threatexchange's signal string
    # (a JSON list of "pdq_hex,quality,timestamp"); null for images.
    vpdq: Mapped[str | None] = mapped_column(Text)
    added_version: Mapped[int] = mapped_column(Integer)
    removed_version: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_list_entries_kind_added", "kind", "added_version"),
        Index("ix_list_entries_kind_removed", "kind", "removed_version"),
        Index("ix_list_entries_kind_key", "kind", "key"),
    )


class Appeal(Base):
    """A site owner's contest of a listed URL, decided by a supervisor."""

    __tablename__ = "list_appeals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    url: Mapped[str] = mapped_column(Text)
    url_hash: Mapped[str] = mapped_column(String(64), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    reason: Mapped[str] = mapped_column(Text)
    # Only what the appellant chose to give, to send them the outcome.
    contact_email: Mapped[str | None] = mapped_column(String(320))
    # The language of the form, so the decision e-mail is written in it.
    language: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[AppealStatus] = mapped_column(
        EnumString(AppealStatus, 10), default=AppealStatus.PENDING
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decision_note: Mapped[str | None] = mapped_column(Text)
    # When the decision was e-mailed; the address is erased in the same transaction.
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

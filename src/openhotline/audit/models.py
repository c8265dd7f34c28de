"""Tables of the audit domain: the hash-chained log and its head."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from openhotline.db import Base, UTCDateTime, utcnow

GENESIS_HASH = "0" * 64


class AuditEntry(Base):
    """One audited event; `hash` = sha256(prev_hash + canonical JSON of the row)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Who: "user:<name>", "system", "partner:<key prefix>", "anonymous".
    actor: Mapped[str] = mapped_column(String(200), index=True)
    # What: dotted verb, e.g. "login.success", "item.reveal", "assessment.create".
    action: Mapped[str] = mapped_column(String(80), index=True)
    # On what: "item:12", "case:3", "user:alice", "setting:exposure_budget".
    target: Mapped[str | None] = mapped_column(String(200), index=True)
    # Canonical JSON text (sorted keys) so the hashed bytes are exactly what is stored.
    details: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """The single row naming the chain's last entry; appends lock it, so the chain never forks.

    It also lets verify notice rows deleted from the end of the log.
    """

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)

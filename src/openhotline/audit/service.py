"""Audit use cases: append an entry to the chain, read it, verify it.

Services never commit: the caller owns the transaction (so an audited action and its audit
row commit or roll back together).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.audit.models import GENESIS_HASH, AuditAction, AuditEntry, AuditHead
from openhotline.db import insert_ignore

HEAD_ID = 1


def canonical_json(value: Any) -> str:
    """Serialise value deterministically: sorted keys, no spaces, UTF-8 text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _at_text(at: datetime) -> str:
    return at.isoformat(timespec="microseconds")


def entry_hash(
    prev_hash: str,
    *,
    entry_id: int,
    at: datetime,
    actor: str,
    action: str,
    target: str | None,
    details: str,
) -> str:
    """Return sha256(prev_hash + canonical JSON of the row's content, id included)."""
    row = {
        "id": entry_id,
        "at": _at_text(at),
        "actor": actor,
        "action": action,
        "target": target,
        "details": details,
    }
    return hashlib.sha256((prev_hash + canonical_json(row)).encode("utf-8")).hexdigest()


def record(
    session: Session,
    actor: str | None,
    action: AuditAction,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry to the audit chain (in the caller's transaction) and return it."""
    insert_ignore(session, AuditHead, [{"id": HEAD_ID, "last_id": 0, "last_hash": GENESIS_HASH}])
    # A write first: it takes SQLite's write lock and PostgreSQL's row lock on the head,
    # so concurrent appends queue up instead of forking the chain.
    session.execute(
        update(AuditHead)
        .where(AuditHead.id == HEAD_ID)
        .values(last_id=AuditHead.last_id)
        .execution_options(synchronize_session=False)
    )
    head = session.execute(
        select(AuditHead.last_id, AuditHead.last_hash).where(AuditHead.id == HEAD_ID)
    ).one()
    entry_id = head.last_id + 1
    at = db.now(session)
    details_text = canonical_json(details or {})
    actor_text = actor or "anonymous"
    digest = entry_hash(
        head.last_hash,
        entry_id=entry_id,
        at=at,
        actor=actor_text,
        action=action,
        target=target,
        details=details_text,
    )
    entry = AuditEntry(
        id=entry_id,
        at=at,
        actor=actor_text,
        action=action,
        target=target,
        details=details_text,
        prev_hash=head.last_hash,
        hash=digest,
    )
    session.add(entry)
    session.flush()
    session.execute(
        update(AuditHead)
        .where(AuditHead.id == HEAD_ID)
        .values(last_id=entry_id, last_hash=digest)
        .execution_options(synchronize_session=False)
    )
    return entry


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of checking the chain: ok, or the first bad row and why."""

    ok: bool
    checked: int
    first_bad_id: int | None = None
    reason: str = ""


def verify(session: Session, batch: int = 5000) -> VerifyResult:
    """Walk the chain in id order; report the first edited, deleted or reordered row."""
    expected_prev = GENESIS_HASH
    expected_id = 1
    checked = 0
    last_id = 0
    while True:
        # Plain rows, not ORM objects: verify neither loads nor expires the caller's entries.
        rows = session.execute(
            select(
                AuditEntry.id,
                AuditEntry.at,
                AuditEntry.actor,
                AuditEntry.action,
                AuditEntry.target,
                AuditEntry.details,
                AuditEntry.prev_hash,
                AuditEntry.hash,
            )
            .where(AuditEntry.id > last_id)
            .order_by(AuditEntry.id)
            .limit(batch)
        ).all()
        if not rows:
            break
        for row in rows:
            if row.id != expected_id:
                return VerifyResult(
                    False, checked, expected_id, f"row {expected_id} is missing (deleted?)"
                )
            if row.prev_hash != expected_prev:
                return VerifyResult(
                    False,
                    checked,
                    row.id,
                    "previous-hash link broken (a row before it was deleted, edited or moved)",
                )
            digest = entry_hash(
                row.prev_hash,
                entry_id=row.id,
                at=row.at,
                actor=row.actor,
                action=row.action,
                target=row.target,
                details=row.details,
            )
            if digest != row.hash:
                return VerifyResult(
                    False, checked, row.id, "content does not match its hash (edited)"
                )
            expected_prev = row.hash
            expected_id += 1
            checked += 1
            last_id = row.id
    head = session.execute(select(AuditHead).where(AuditHead.id == HEAD_ID)).scalar_one_or_none()
    head_id = head.last_id if head else 0
    head_hash = head.last_hash if head else GENESIS_HASH
    if head_id != last_id or head_hash != expected_prev:
        return VerifyResult(
            False,
            checked,
            last_id + 1,
            f"log ends at row {last_id} but its head names row {head_id} (rows cut off the end?)",
        )
    return VerifyResult(True, checked)


def recent(
    session: Session,
    *,
    limit: int = 100,
    before_id: int | None = None,
    actor: str | None = None,
    action_prefix: str | None = None,
) -> list[AuditEntry]:
    """Return the newest entries first, optionally filtered, for the console."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action_prefix:
        query = query.where(AuditEntry.action.startswith(action_prefix, autoescape=True))
    return list(session.execute(query).scalars().all())


def details_of(entry: AuditEntry) -> dict[str, Any]:
    """Return an entry's details as a dict."""
    value = json.loads(entry.details or "{}")
    return value if isinstance(value, dict) else {"value": value}

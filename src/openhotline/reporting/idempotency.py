"""Idempotent report submission: a retry with the same Idempotency-Key files nothing new.

A client that lost the reply and retried filed a duplicate (13 and 32 such reports in the
kill runs). With a key, the first request's answer is stored in the same transaction as its
reports; a retry with the same key and body gets that answer back, the same key with another
body is refused. Keys expire after `idempotency_key_hours`. Only digests are stored.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.errors import ConflictError, RejectedError
from openhotline.reporting.models import IntakeIdempotencyKey

# Visible ASCII, as the IETF draft's examples (UUIDs, random tokens); 255 bounds storage.
KEY_RE = re.compile(r"[\x21-\x7e]{1,255}")


class IdempotencyConflictError(ConflictError):
    """The key was already used with a different body."""


@dataclass(frozen=True)
class IdempotencyKey:
    """A request's key, scoped and hashed, with a digest of its body."""

    key_hash: str
    body_hash: str
    ttl: timedelta


def idempotency_key(
    header: str | None, scope: str, body: Any, hours: float
) -> IdempotencyKey | None:
    """The key a request carries (None without the header); RejectedError when malformed."""
    if header is None:
        return None
    if not KEY_RE.fullmatch(header):
        raise RejectedError("Idempotency-Key must be 1 to 255 visible ASCII characters")
    # Scoped: two partners (or the public and a partner) choosing one key never collide.
    key_hash = hashlib.sha256(f"{scope}\0{header}".encode()).hexdigest()
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    body_hash = hashlib.sha256(canonical.encode()).hexdigest()
    return IdempotencyKey(key_hash, body_hash, timedelta(hours=hours))


def run_once(
    session: Session, key: IdempotencyKey | None, produce: Callable[[], dict[str, Any]]
) -> tuple[dict[str, Any], bool]:
    """Return (answer, replayed): the stored answer for a known key, else produce() stored."""
    if key is None:
        return produce(), False
    now = db.now(session)
    if session.get_bind().dialect.name == "postgresql":
        # Another server process may be filing the same key right now: wait for its
        # transaction, then read its answer (SQLite's writers are serialised already).
        lock_id = int.from_bytes(bytes.fromhex(key.key_hash[:16]), "big", signed=True)
        session.execute(select(func.pg_advisory_xact_lock(lock_id)))
    existing = session.get(IntakeIdempotencyKey, key.key_hash)
    if existing is not None and existing.expires_at > now:
        if existing.body_hash != key.body_hash:
            raise IdempotencyConflictError(
                "this Idempotency-Key was already used with a different body; "
                "use a new key for a new submission"
            )
        answer: dict[str, Any] = json.loads(existing.response)
        return answer, True
    # Expired keys go as new ones arrive (an indexed range delete, usually of nothing).
    session.execute(delete(IntakeIdempotencyKey).where(IntakeIdempotencyKey.expires_at <= now))
    answer = produce()
    session.add(
        IntakeIdempotencyKey(
            key_hash=key.key_hash,
            body_hash=key.body_hash,
            response=json.dumps(answer, sort_keys=True),
            created_at=now,
            expires_at=now + key.ttl,
        )
    )
    session.flush()
    return answer, False

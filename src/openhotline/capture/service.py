"""Capture use cases: store crawled media encrypted, hash it, match it, move the case on.

Services never commit: the caller owns the transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from openhotline.capture.crawler import CapturedMedia, CrawlResult
from openhotline.db import insert_ignore, utcnow
from openhotline.media.models import CaseItem, Item, ItemStatus
from openhotline.media.store import MediaStore
from openhotline.reporting.models import Case, CaseStatus
from openhotline.reporting.service import record_case_event, set_case_status

ACTOR = "crawler"


@dataclass
class Hashes:
    """Cryptographic hashes of one media file."""

    sha256: str
    sha1: str
    md5: str


@dataclass
class CaptureSummary:
    """What one capture stored."""

    item_ids: list[int] = field(default_factory=list)
    auto_assessed: int = 0
    new_items: int = 0


def hash_bytes(data: bytes) -> Hashes:
    """Return SHA-256, SHA-1 and MD5 of data (PDQ comes with the matching engine)."""
    return Hashes(
        sha256=hashlib.sha256(data).hexdigest(),
        sha1=hashlib.sha1(data, usedforsecurity=False).hexdigest(),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
    )


def match_item(session: Session, item: Item) -> bool:
    """Match a new item against the confirmed hash banks; True means known illegal material.

    The one call from capture into matching. Neither `openhotline.matching` (hash banks,
    PDQ) nor `openhotline.assessment` (confirmed bank, automatic assessment) is on main
    yet, so there is nothing to match against: this answers False and the item stays NEW
    ("stored and hashed, not yet matched"). The assessment service routes NEW items through
    the confirmed bank before it queues them for analysts; once it lands, call its
    per-item routing here so known items are auto-assessed at capture time.
    """
    return False


def _upsert_item(session: Session, media: CapturedMedia, store: MediaStore) -> tuple[Item, bool]:
    h = hash_bytes(media.body)
    existing = session.execute(select(Item).where(Item.sha256 == h.sha256)).scalar_one_or_none()
    if existing is not None:
        return existing, False
    key = store.put(h.sha256, media.body)
    insert_ignore(
        session,
        Item,
        [
            {
                "sha256": h.sha256,
                "md5": h.md5,
                "sha1": h.sha1,
                "size": len(media.body),
                "media_type": media.media_type,
                "storage_key": key,
                "status": ItemStatus.NEW.value,
                "source": ACTOR,
                "created_at": utcnow(),
                "weak": False,
            }
        ],
    )
    item = session.execute(select(Item).where(Item.sha256 == h.sha256)).scalar_one()
    return item, True


def store_capture(
    session: Session, case: Case, crawl: CrawlResult, store: MediaStore
) -> CaptureSummary:
    """Store and match what a crawl found; move a NEW case to TRIAGE, or ASSESSED if known."""
    summary = CaptureSummary()
    now = utcnow()
    for media in crawl.media:
        item, created = _upsert_item(session, media, store)
        summary.new_items += int(created)
        if item.status == ItemStatus.NEW.value and match_item(session, item):
            item.status = ItemStatus.AUTO_ASSESSED.value
        if item.status == ItemStatus.AUTO_ASSESSED.value:
            summary.auto_assessed += 1
        insert_ignore(
            session,
            CaseItem,
            [{"case_id": case.id, "item_id": item.id, "media_url": media.url, "captured_at": now}],
        )
        summary.item_ids.append(item.id)
    detail = (
        f"HTTP {crawl.status}; {len(crawl.media)} item(s), {summary.new_items} new, "
        f"{summary.auto_assessed} matched; {len(crawl.pages)} linked page(s); "
        f"{len(crawl.skipped)} skipped"
    )
    record_case_event(session, case.id, "captured", actor=ACTOR, detail=detail)
    if case.status == CaseStatus.NEW.value:
        if summary.auto_assessed:
            set_case_status(
                session, case, CaseStatus.ASSESSED, actor="matcher", detail="matched a bank"
            )
        else:
            set_case_status(session, case, CaseStatus.TRIAGE, actor=ACTOR, detail=detail)
    return summary


def capture_failed(session: Session, case: Case, reason: str) -> None:
    """Record a capture that cannot succeed (refused, invalid) and hand the case to triage."""
    record_case_event(session, case.id, "capture_failed", actor=ACTOR, detail=reason[:2000])
    if case.status == CaseStatus.NEW.value:
        set_case_status(session, case, CaseStatus.TRIAGE, actor=ACTOR, detail=reason[:500])


def cases_to_capture(session: Session, limit: int = 500) -> list[int]:
    """Ids of cases still NEW (each gets one capture job)."""
    rows = session.execute(
        select(Case.id).where(Case.status == CaseStatus.NEW.value).order_by(Case.id).limit(limit)
    )
    return [r[0] for r in rows]

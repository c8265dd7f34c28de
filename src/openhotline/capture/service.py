"""Capture use cases: store crawled media encrypted, hash it, match it, move the case on.

Services never commit: the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.assessment import service as assessment
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.capture.crawler import CapturedMedia, CrawlResult
from openhotline.capture.filter import Filtered
from openhotline.cases.lifecycle import AWAITING_CAPTURE
from openhotline.cases.models import Case, CaseEventKind, CaseStatus
from openhotline.cases.service import move, record_event
from openhotline.db import insert_ignore
from openhotline.matching.engine import MatchEngine
from openhotline.matching.matcher import FeatureSource, QueryHash, match
from openhotline.matching.models import HashType
from openhotline.matching.rules import describe
from openhotline.matching.service import Match
from openhotline.matching.video import match_video
from openhotline.media import service as media_service
from openhotline.media.decode import MediaError
from openhotline.media.hashing import WEAK_QUALITY, crypto_hashes
from openhotline.media.models import CaseItem, Item, ItemStatus, ItemVideo, VideoState
from openhotline.media.store import MediaStore
from openhotline.media.video import (
    VideoFrame,
    VideoLimits,
    VideoUnavailableError,
    format_vpdq,
    hash_video_bytes,
)

if TYPE_CHECKING:
    from openhotline.matching.features import Features

ACTOR = "crawler"


@dataclass
class HashedMedia:
    """A captured file with its hashes and the queries to match it by."""

    media: CapturedMedia
    sha256: str
    sha1: str
    md5: str
    pdq: str | None = None
    pdq_quality: int | None = None
    queries: list[QueryHash] = field(default_factory=list)
    # Videos: the vPDQ frame hashes, or why there are none (state off / failed).
    video_state: VideoState | None = None
    video_detail: str = ""
    video_frames: list[VideoFrame] = field(default_factory=list)
    video_guesses: dict[str, list[str]] = field(default_factory=dict)  # not stored


@dataclass
class CaptureSummary:
    """What one capture stored."""

    item_ids: list[int] = field(default_factory=list)
    auto_assessed: int = 0
    new_items: int = 0
    matched_banks: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Matcher:
    """The matching engine and which banks count as confirmed (None: every enabled bank)."""

    engine: MatchEngine
    banks: frozenset[str] | None = None


def hash_media(media: CapturedMedia, video_limits: VideoLimits | None = None) -> HashedMedia:
    """Cryptographic hashes always; PDQ candidates for images, vPDQ frames for videos (no DB)."""
    c = crypto_hashes(media.body)
    out = HashedMedia(media, c.sha256, c.sha1, c.md5)
    out.queries = [
        QueryHash("md5", HashType.MD5, c.md5),
        QueryHash("sha1", HashType.SHA1, c.sha1),
        QueryHash("sha256", HashType.SHA256, c.sha256),
    ]
    if media.media_type.startswith("image/"):
        try:
            q = media_service.query_image(media.body)
        except MediaError:
            return out  # undecodable or unsupported: exact hashes only
        out.pdq, out.pdq_quality = q.hashes.pdq, q.hashes.pdq_quality
        out.queries += [QueryHash(x.label, HashType.PDQ, x.pdq, x.quality) for x in q.candidates]
    elif media.media_type.startswith("video/"):
        hash_video_media(out, video_limits)
    return out


def hash_video_media(out: HashedMedia, limits: VideoLimits | None) -> None:
    """Add a video's vPDQ frame hashes, or record why there are none (stored either way)."""
    try:
        v = hash_video_bytes(out.media.body, limits)
    except VideoUnavailableError as exc:
        out.video_state, out.video_detail = VideoState.OFF, exc.message
        return
    except MediaError as exc:
        out.video_state, out.video_detail = VideoState.FAILED, exc.message[:500]
        return
    out.video_state, out.video_frames, out.video_guesses = VideoState.HASHED, v.frames, v.guesses
    if v.truncated:
        out.video_detail = f"frame hashes kept for the first {len(v.frames)} samples only"


def match_item(session: Session, matcher: Matcher | None, hashed: HashedMedia) -> list[Match]:
    """Match a new item against the confirmed hash banks (exact hashes and PDQ candidates).

    The one call from capture into the matching engine; any match means known material.
    """
    if matcher is None:
        return []
    banks = set(matcher.banks) if matcher.banks is not None else None
    per_bank = match(
        session, matcher.engine, hashed.queries, banks_only=banks, features=_features_of(hashed)
    )
    found = [m for ms in per_bank.values() for m in ms]
    if hashed.video_frames:
        videos = match_video(
            session, matcher.engine, hashed.video_frames, banks, hashed.video_guesses
        )
        found += [v.as_match() for v in videos]
    return found


def _features_of(hashed: HashedMedia) -> FeatureSource | None:
    """An image's local features, computed only when PDQ found nothing in a bank that has some."""
    if hashed.pdq is None:
        return None  # not an image PDQ could read

    def compute() -> list[tuple[str, Features]]:
        from openhotline.matching.features import query_features

        try:
            return query_features(hashed.media.body)
        except MediaError:
            return []

    return compute


def upsert_item(
    session: Session, h: HashedMedia, store: MediaStore, source: str = ACTOR
) -> tuple[Item, bool]:
    """The item with these hashes, stored encrypted and inserted when new (created flag)."""
    media = h.media
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
                "pdq": h.pdq,
                "pdq_quality": h.pdq_quality,
                "status": ItemStatus.NEW,
                "source": source,
                "created_at": db.now(session),
                "weak": h.pdq_quality is not None and h.pdq_quality < WEAK_QUALITY,
            }
        ],
    )
    item = session.execute(select(Item).where(Item.sha256 == h.sha256)).scalar_one()
    if h.video_state is not None:
        record_video(session, item, h)
    return item, True


def record_video(session: Session, item: Item, h: HashedMedia) -> None:
    """Keep a video item's frame hashes (or that video matching was off / failed for it)."""
    frames = h.video_frames
    insert_ignore(
        session,
        ItemVideo,
        [
            {
                "item_id": item.id, "state": h.video_state, "detail": h.video_detail[:2000],
                "frame_count": len(frames), "duration": frames[-1].timestamp if frames else 0.0,
                "frames": format_vpdq(frames), "created_at": db.now(session),
            }
        ],
    )  # fmt: skip


def match_new_item(
    session: Session, matcher: Matcher | None, item: Item, h: HashedMedia
) -> str | None:
    """Match a NEW item against the banks; each bank's policy decides what a match does.

    A trusted bank's mapped match assesses the item automatically (its bank is returned);
    other matches are left as hints for the analyst or only recorded (assessment decides).
    """
    if item.status != ItemStatus.NEW:
        return None
    matches = match_item(session, matcher, h)
    if not matches:
        return None
    best = assessment.assess_automatically(session, item, matches)
    if best is None:
        return None
    how = next(
        (describe(m.query, m.inliers) for m in matches
         if m.bank == best.bank and m.hash_value == best.value),
        "",
    )  # fmt: skip
    audit.record(
        session,
        "matcher",
        AuditAction.CAPTURE_AUTO_ASSESSED,
        f"item:{item.id}",
        {"bank": best.bank, "by": best.algorithm, "distance": best.distance, "how": how},
    )
    return best.bank


def _how(matches: list[Match], bank: str, value: str) -> str:
    """The words for how the winning match matched (e.g. "vPDQ, 87% of frames")."""
    return next((m.query for m in matches if m.bank == bank and m.hash_value == value), "")


def store_capture(
    session: Session,
    case: Case,
    crawl: CrawlResult,
    hashed: list[HashedMedia],
    store: MediaStore,
    matcher: Matcher | None,
    *,
    source: str = ACTOR,
) -> CaptureSummary:
    """Store and match what a crawl found; move a NEW case to TRIAGE, or ASSESSED if known."""
    summary = CaptureSummary()
    now = db.now(session)
    for h in hashed:
        item, created = upsert_item(session, h, store, source)
        summary.new_items += int(created)
        bank = match_new_item(session, matcher, item, h)
        if bank:
            summary.matched_banks.append(bank)
        if item.status == ItemStatus.AUTO_ASSESSED:
            summary.auto_assessed += 1
        insert_ignore(
            session,
            CaseItem,
            [
                {
                    "case_id": case.id,
                    "item_id": item.id,
                    "media_url": h.media.url,
                    "captured_at": now,
                }
            ],
        )
        summary.item_ids.append(item.id)
    detail = (
        f"HTTP {crawl.status}; {len(hashed)} item(s), {summary.new_items} new, "
        f"{summary.auto_assessed} known; {len(crawl.pages)} linked page(s); "
        f"{len(crawl.skipped)} skipped"
    )
    record_event(session, case.id, CaseEventKind.CAPTURED, actor=ACTOR, detail=detail)
    if AWAITING_CAPTURE(case):
        if summary.auto_assessed:
            banks = ", ".join(sorted(set(summary.matched_banks))) or "known items"
            move(session, case, CaseStatus.ASSESSED, actor="matcher", reason=f"matched {banks}")
        else:
            move(session, case, CaseStatus.TRIAGE, actor=ACTOR, reason=detail)
    return summary


def record_filtered(
    session: Session, case: Case, filtered: Filtered, *, actor: str = ACTOR
) -> None:
    """Record how many icons and tiny images a capture dropped (nothing of them is stored)."""
    if filtered.dropped:
        record_event(
            session, case.id, CaseEventKind.MEDIA_FILTERED, actor=actor, detail=filtered.describe()
        )


def capture_failed(session: Session, case: Case, reason: str) -> None:
    """Record a capture that cannot succeed (refused, invalid) and hand the case to triage."""
    record_event(session, case.id, CaseEventKind.CAPTURE_FAILED, actor=ACTOR, detail=reason[:2000])
    if AWAITING_CAPTURE(case):
        move(session, case, CaseStatus.TRIAGE, actor=ACTOR, reason=reason[:500])


def cases_to_capture(session: Session, limit: int = 500) -> list[int]:
    """Ids of cases still NEW (each gets one capture job)."""
    rows = session.execute(
        select(Case.id)
        .where(Case.status.in_(AWAITING_CAPTURE.values))
        .order_by(Case.id)
        .limit(limit)
    )
    return [r[0] for r in rows]

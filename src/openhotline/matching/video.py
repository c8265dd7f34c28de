"""vPDQ in banks: video entries (frame hashes in a side table) and matching by share of frames.

vPDQ's algorithm (python-threatexchange's VPDQ signal, `match_VPDQ_hash_brute`): both sides'
frames are filtered to quality >= 50 and de-duplicated by hash; a query frame matches when a
bank video frame is within the PDQ distance; the video matches when the share of its frames
that match is at least the bank's `vpdq_frame_share` and the share of the bank video's frames
that were matched is at least its `vpdq_target_share`. Here the frame lookup goes through the
PDQ multi-index (engine.video) instead of comparing every pair, so it scales with the bank.
Services never commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.matching.engine import MatchEngine, PDQHit
from openhotline.matching.models import BankEntry, BankVideoFrame, HashBank, HashType
from openhotline.matching.service import BankInvalidError, Match, _bump, add_entry
from openhotline.media.video import VideoFrame, vpdq_digest

MIN_QUALITY = 50  # vPDQ's VPDQ_QUALITY_THRESHOLD
MAX_FRAMES = 20_000  # frame hashes one bank video may hold (over 5 h at one a second)


@dataclass(frozen=True)
class VideoMatch:
    """A bank video that a query video matched, with both shares of frames."""

    bank: str
    entry_id: int
    digest: str
    classification: str
    source: str
    query_share: float  # share of the query's usable frames that matched this video
    target_share: float  # share of the bank video's usable frames that were matched

    @property
    def how(self) -> str:
        """How it matched, in words for analysts: "vPDQ, 87% of frames"."""
        return f"vPDQ, {int(self.query_share * 100)}% of frames"

    def as_match(self) -> Match:
        """As a bank match for the policies; distance = percent of frames not matched."""
        return Match(
            bank=self.bank, entry_id=self.entry_id, hash_type=HashType.VPDQ.value,
            hash_value=self.digest, distance=100 - int(self.query_share * 100),
            classification=self.classification, source=self.source, query=self.how,
        )  # fmt: skip


def usable(frames: list[VideoFrame]) -> list[VideoFrame]:
    """Frames vPDQ matches on: quality >= 50, each distinct hash once."""
    seen: set[str] = set()
    out: list[VideoFrame] = []
    for f in frames:
        if f.quality >= MIN_QUALITY and f.pdq not in seen:
            seen.add(f.pdq)
            out.append(f)
    return out


def set_vpdq_shares(
    session: Session, bank: HashBank, frame_share: float | None, target_share: float | None
) -> None:
    """Set the shares of frames a video match needs in this bank (0..1)."""
    check_shares(frame_share, target_share)
    if frame_share is not None:
        bank.vpdq_frame_share = float(frame_share)
    if target_share is not None:
        bank.vpdq_target_share = float(target_share)
    _bump(session, bank.id)


def check_shares(frame_share: float | None, target_share: float | None) -> None:
    """Refuse shares outside 0..1, and a frame share of 0 (it would match any video)."""
    for name, value in (("vpdq_frame_share", frame_share), ("vpdq_target_share", target_share)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise BankInvalidError(f"{name} must be between 0 and 1 (0% to 100%)")
    if frame_share is not None and frame_share == 0.0:
        raise BankInvalidError("vpdq_frame_share must be above 0 (0 would match any video)")


def add_video(
    session: Session,
    bank: HashBank,
    frames: list[VideoFrame],
    source: str = "",
    classification: str = "",
    added_by: str = "",
) -> tuple[BankEntry, bool]:
    """Add a video's frame hashes as one vpdq entry (created flag False if already live)."""
    if not frames:
        raise BankInvalidError("a video entry needs at least one frame hash")
    if len(frames) > MAX_FRAMES:
        raise BankInvalidError(f"a video entry holds at most {MAX_FRAMES} frame hashes")
    if not usable(frames):
        raise BankInvalidError(
            f"none of the {len(frames)} frame hashes has quality >= {MIN_QUALITY}: "
            "the video could never match"
        )
    digest = vpdq_digest(frames)
    live = session.scalar(
        select(BankEntry.id).where(
            BankEntry.bank_id == bank.id,
            BankEntry.hash_type == HashType.VPDQ.value,
            BankEntry.hash_value == digest,
            BankEntry.removed_at.is_(None),
        )
    )
    entry = add_entry(session, bank, HashType.VPDQ, digest, source, classification, added_by)
    if live is not None:
        return entry, False
    session.execute(
        insert(BankVideoFrame),
        [
            {"bank_id": bank.id, "entry_id": entry.id, "position": i, "hash_value": f.pdq,
             "quality": f.quality, "frame_number": f.frame_number, "timestamp": f.timestamp,
             "removed_at": None}
            for i, f in enumerate(frames)
        ],
    )  # fmt: skip
    return entry, True


def remove_video(session: Session, bank: HashBank, digest: str, removed_by: str = "") -> int:
    """Remove a vpdq entry and its frames from the index (kept as a trace); 0 or 1."""
    digest = digest.strip().lower()
    entry_id = session.scalar(
        select(BankEntry.id).where(
            BankEntry.bank_id == bank.id,
            BankEntry.hash_type == HashType.VPDQ.value,
            BankEntry.hash_value == digest,
            BankEntry.removed_at.is_(None),
        )
    )
    if entry_id is None:
        return 0
    now = db.now(session)
    session.execute(
        update(BankEntry)
        .where(BankEntry.id == entry_id)
        .values(removed_at=now, removed_by=removed_by[:100])
    )
    session.execute(
        update(BankVideoFrame)
        .where(BankVideoFrame.entry_id == entry_id)
        .values(removed_at=now)
        .execution_options(synchronize_session=False)
    )
    _bump(session, bank.id)
    return 1


def frames_of(session: Session, entry_id: int) -> list[VideoFrame]:
    """All frame hashes of one vpdq entry, in order."""
    rows = session.execute(
        select(
            BankVideoFrame.hash_value, BankVideoFrame.quality, BankVideoFrame.frame_number,
            BankVideoFrame.timestamp,
        )
        .where(BankVideoFrame.entry_id == entry_id)
        .order_by(BankVideoFrame.position)
    ).all()  # fmt: skip
    return [VideoFrame(h, int(q), int(n), float(t)) for h, q, n, t in rows]


def iter_videos(session: Session, bank: HashBank) -> Iterator[tuple[BankEntry, list[VideoFrame]]]:
    """Live vpdq entries of a bank with their frames (export)."""
    last = 0
    while True:
        entries = session.scalars(
            select(BankEntry)
            .where(
                BankEntry.bank_id == bank.id,
                BankEntry.hash_type == HashType.VPDQ.value,
                BankEntry.removed_at.is_(None),
                BankEntry.id > last,
            )
            .order_by(BankEntry.id)
            .limit(200)
        ).all()
        if not entries:
            return
        for e in entries:
            yield e, frames_of(session, e.id)
        last = entries[-1].id


def video_entry_counts(session: Session) -> dict[int, int]:
    """Live vpdq entries per bank id (the bank page)."""
    rows = session.execute(
        select(BankEntry.bank_id, func.count())
        .where(BankEntry.hash_type == HashType.VPDQ.value, BankEntry.removed_at.is_(None))
        .group_by(BankEntry.bank_id)
    ).all()
    return {int(b): int(n) for b, n in rows}


def match_video(
    session: Session,
    engine: MatchEngine,
    frames: list[VideoFrame],
    banks_only: set[str] | None = None,
    guesses: dict[str, list[str]] | None = None,
) -> list[VideoMatch]:
    """Bank videos this video matches (by both shares of frames), best first.

    guesses: per frame hash, PDQs undoing a crop or small rotation (media/video.py).
    """
    query = usable(frames)
    if not query or engine.video is None:
        return []
    # Each query frame is looked up by its hash and by its crop/rotation guesses (if any);
    # a frame matches when any of them is within the bank's radius.
    hashes = [f.pdq for f in query]
    owner = list(range(len(query)))
    for i, f in enumerate(query):
        for g in (guesses or {}).get(f.pdq, []):
            hashes.append(g)
            owner.append(i)
    hits = [
        PDQHit(owner[h.query], h.bank_id, h.bank, h.entry_id, h.distance)
        for h in engine.video.match_pdq(session, hashes, banks_only)
    ]
    if not hits:
        return []
    frame_rows: dict[int, tuple[int, str]] = {}
    ids = sorted({h.entry_id for h in hits})  # frame row ids
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        for fid, eid, value in session.execute(
            select(BankVideoFrame.id, BankVideoFrame.entry_id, BankVideoFrame.hash_value).where(
                BankVideoFrame.id.in_(part)
            )
        ).all():
            frame_rows[int(fid)] = (int(eid), str(value))
    # Per bank video: which query frames matched it, which of its distinct hashes were hit.
    q_hit: dict[int, set[int]] = {}
    t_hit: dict[int, set[str]] = {}
    for h in hits:
        row = frame_rows.get(h.entry_id)
        if row is None:
            continue
        q_hit.setdefault(row[0], set()).add(h.query)
        t_hit.setdefault(row[0], set()).add(row[1])
    entry_ids = sorted(q_hit)
    totals = dict(
        session.execute(
            select(BankVideoFrame.entry_id, func.count(func.distinct(BankVideoFrame.hash_value)))
            .where(BankVideoFrame.entry_id.in_(entry_ids), BankVideoFrame.quality >= MIN_QUALITY)
            .group_by(BankVideoFrame.entry_id)
        ).all()
    )
    out: list[VideoMatch] = []
    for entry, bank in session.execute(
        select(BankEntry, HashBank)
        .join(HashBank, HashBank.id == BankEntry.bank_id)
        .where(BankEntry.id.in_(entry_ids), BankEntry.removed_at.is_(None))
    ).all():
        q_share = len(q_hit[entry.id]) / len(query)
        total = int(totals.get(entry.id, 0))
        t_share = len(t_hit[entry.id]) / total if total else 0.0
        if q_share + 1e-9 >= bank.vpdq_frame_share and t_share + 1e-9 >= bank.vpdq_target_share:
            out.append(
                VideoMatch(
                    bank.name, entry.id, entry.hash_value, entry.classification, entry.source,
                    q_share, t_share,
                )
            )  # fmt: skip
    return sorted(out, key=lambda m: (-m.query_share, -m.target_share, m.entry_id))

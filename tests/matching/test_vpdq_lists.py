"""A confirmed video's vPDQ travels on the signed hash list (issue 13): in the JSON and HMA
files, through a subscription into the partner's bank (frames and all), out again when the
item is withdrawn, and the list's change token moves when only the vpdq entry changes."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from tests.matching.test_subscriptions import (
    PNG_A,
    PNG_B,
    Publisher,
    _subscribe,
    _sync,
    assessed_item,
    publisher,  # noqa: F401
)

from openhotline.assessment.banks import admit_item_hashes
from openhotline.blocklist import service as lists
from openhotline.blocklist.formats import render_snapshot
from openhotline.blocklist.models import ListKind
from openhotline.db import now as db_now
from openhotline.db import transaction
from openhotline.matching import service as banks
from openhotline.matching import video
from openhotline.matching.models import BankEntry, BankVideoFrame, HashType
from openhotline.matching.subscriptions import HttpListFetcher
from openhotline.media.models import ItemVideo, VideoState
from openhotline.media.video import VideoFrame, format_te_json, format_vpdq, vpdq_digest

STAMP = datetime(2026, 12, 2, tzinfo=UTC)
FRAMES = [
    VideoFrame(hashlib.sha256(f"frame {i}".encode()).hexdigest(), 90, i, float(i)) for i in range(6)
]


def _confirm_video(factory: sessionmaker[Session], data: bytes, frames: list[VideoFrame]) -> str:
    """A hotline confirms a video item (its vPDQ hashed at capture) and publishes its lists."""
    with transaction(factory) as s:
        item = assessed_item(s, data)
        s.add(
            ItemVideo(
                item_id=item.id, state=VideoState.HASHED, detail="", frame_count=len(frames),
                duration=float(len(frames)), frames=format_vpdq(frames), created_at=db_now(s),
            )
        )  # fmt: skip
        s.flush()
        admit_item_hashes(s, item, scheme="default", classification="baseline")
        lists.publish_lists(s, actor="t", provenance="Hotline AA")
        return item.sha256


def _bank_videos(factory: sessionmaker[Session]) -> dict[str, list[VideoFrame]]:
    with factory() as s:
        bank = banks.get_bank(s, "from-aa")
        return {e.hash_value: frames for e, frames in video.iter_videos(s, bank)}


def test_a_confirmed_video_is_listed_with_its_vpdq_and_followed_by_b(
    publisher: Publisher,  # noqa: F811
    session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    sha = _confirm_video(publisher.factory, PNG_A, FRAMES)
    with publisher.factory() as s:
        rows = list(lists.snapshot_rows(s, ListKind.HASHES, 1))
    (row,) = rows
    assert row[0] == sha and row[7] == format_te_json(FRAMES)
    entries = json.loads(render_snapshot("hashes", 1, STAMP, 1, iter(rows), "json"))
    assert entries["entries"][0]["vpdq"] == json.loads(format_te_json(FRAMES))
    hma = render_snapshot("hashes", 1, STAMP, 1, iter(rows), "hma").decode()
    assert f"vpdq {format_te_json(FRAMES)}\n" in hma
    csv_text = render_snapshot("hashes", 1, STAMP, 1, iter(rows), "csv").decode()
    assert "vpdq" not in csv_text  # CSV keeps its columns: a frame list is no cell

    # B follows A: the video's frames become a vpdq entry of B's bank (matched by the
    # video index like B's own), besides the file hashes.
    http = HttpListFetcher(timeout=30)
    _subscribe(session_factory, publisher, tmp_path)
    first = _sync(session_factory, http)
    assert first.mode == "snapshot"  # type: ignore[attr-defined]
    ((digest, frames),) = _bank_videos(session_factory).items()
    assert [(f.pdq, f.quality) for f in frames] == [(f.pdq, f.quality) for f in FRAMES]
    assert digest == vpdq_digest(frames)
    assert _sync(session_factory, http).mode == "unchanged"  # type: ignore[attr-defined]

    # A withdraws the video: the delta removes B's entry and its frames leave the index.
    with transaction(publisher.factory) as s:
        s.execute(
            update(BankEntry)
            .where(BankEntry.source.like("item:%"), BankEntry.removed_at.is_(None))
            .values(removed_at=db_now(s))
        )
        lists.publish_lists(s, actor="t", provenance="Hotline AA")
    second = _sync(session_factory, http)
    assert second.mode == "delta" and second.removed >= 4  # type: ignore[attr-defined]
    assert _bank_videos(session_factory) == {}
    with session_factory() as s:
        live_frames = s.scalars(
            select(BankVideoFrame.id).where(BankVideoFrame.removed_at.is_(None))
        ).all()
        assert live_frames == []


@pytest.mark.db
def test_removing_only_the_vpdq_entry_republishes_the_list(
    session_factory: sessionmaker[Session],
) -> None:
    """The change token must move for a vpdq entry alone (migration 1180's triggers)."""
    _confirm_video(session_factory, PNG_B, FRAMES)
    with session_factory() as s:
        v1 = lists.latest(s, ListKind.HASHES)
        assert v1 is not None
    with transaction(session_factory) as s:
        digest = s.scalars(
            select(BankEntry.hash_value).where(BankEntry.hash_type == HashType.VPDQ.value)
        ).one()
        assert video.remove_video(s, banks.get_bank(s, "confirmed"), digest, "t") == 1
    with transaction(session_factory) as s:
        v2 = lists.publish_lists(s, actor="t", provenance="Hotline AA")[ListKind.HASHES]
        assert v2.version == v1.version + 1
        (row,) = lists.snapshot_rows(s, ListKind.HASHES, v2.version)
        assert row[7] is None and row[2] is not None  # the file hashes stay listed


def test_exchange_feeds_carry_videos(
    publisher: Publisher,  # noqa: F811
    session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    """Through threatexchange: openhotline's adapter yields a `vpdq` signal, an exchange feed
    holds it as a vpdq entry with its frames; a local file's `vpdq` line is read the same."""
    pytest.importorskip("threatexchange.extensions.vpdq.vpdq", reason="needs [exchange,video]")
    from tests.matching.test_exchange_feed import _feed_from
    from tests.matching.test_exchange_feed import _sync as feed_sync

    from openhotline.matching import exchange_feed

    _confirm_video(publisher.factory, PNG_A, FRAMES)
    _feed_from(session_factory, publisher, tmp_path, "tx-video")
    first = feed_sync(session_factory, "tx-video")
    assert first.added == 3 and not first.skipped  # SHA-256, MD5 and the video
    with session_factory() as s:
        ((entry, frames),) = list(video.iter_videos(s, banks.get_bank(s, "tx-video")))
        assert [f.pdq for f in frames] == [f.pdq for f in FRAMES]
        assert entry.hash_value == vpdq_digest(frames)

    signals = tmp_path / "signals.txt"
    half = FRAMES[:3]
    signals.write_text(f'vpdq {format_te_json(half)}\nvpdq ["zz,1,0"]\n')
    with transaction(session_factory) as s:
        exchange_feed.subscribe(s, "tx-file", "local_file", {"filename": str(signals)}, "t")
    result = feed_sync(session_factory, "tx-file")
    assert result.added == 1 and sum(result.skipped.values()) == 1  # the malformed frame list
    signals.write_text("")
    assert feed_sync(session_factory, "tx-file").removed == 1
    with session_factory() as s:
        assert list(video.iter_videos(s, banks.get_bank(s, "tx-file"))) == []

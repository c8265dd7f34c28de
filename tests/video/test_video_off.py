"""Without vpdq a captured video is still stored (exact hashes), marked "video matching off".

Runs whether or not vpdq is installed: its absence is simulated.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.bootstrap import build as build_services
from openhotline.cases.models import Case, CaseStatus
from openhotline.config import Settings
from openhotline.db import transaction
from openhotline.jobs.queue import build_queue
from openhotline.media.models import Item, ItemStatus, ItemVideo, VideoState
from openhotline.reporting.schemas import ReportIn
from openhotline.reporting.service import submit_report
from tests.pipeline_support import LocalSite
from tests.video import synth


def test_video_is_stored_and_marked_off_without_vpdq(
    settings: Settings,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("openhotline.media.video.video_available", lambda: False)
    data = synth.clip(tmp_path / "c.mp4", seed=3, seconds=3).read_bytes()
    site = LocalSite().start()
    try:
        site.html("/v", '<html><body><a href="/c.mp4">clip</a></body></html>')
        site.media("/c.mp4", data, content_type="video/mp4")
        with transaction(session_factory) as session:
            submit_report(session, ReportIn(urls=[site.url("/v", "videos.test")]))
        s = settings.model_copy(
            update={
                "crawler_allow_networks": ["127.0.0.0/8"],
                "dns_overrides": {"videos.test": ["127.0.0.1"]},
            }
        )
        rt = build_services(s)
        build_queue(rt, name=f"t{uuid.uuid4().hex[:8]}").drain()
        rt.close()
    finally:
        site.stop()
    with session_factory() as session:
        item = session.execute(select(Item)).scalar_one()
        assert item.sha256 == hashlib.sha256(data).hexdigest() and item.pdq is None
        assert item.media_type == "video/mp4" and item.status == ItemStatus.NEW
        video = session.get(ItemVideo, item.id)
        assert video is not None and video.state == VideoState.OFF
        assert "vpdq is not installed" in video.detail and video.frames == ""
        assert session.execute(select(Case)).scalar_one().status == CaseStatus.TRIAGE


def test_undecodable_video_is_stored_and_says_why(tmp_path: Path) -> None:
    pytest.importorskip("vpdq", reason="the [video] extra (vpdq + libav*) is not installed")
    from openhotline.capture.crawler import CapturedMedia
    from openhotline.capture.service import hash_media

    junk = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64
    h = hash_media(CapturedMedia(url="http://x.test/a.mp4", media_type="video/mp4", body=junk))
    assert h.video_state == VideoState.FAILED and h.video_detail
    assert h.sha256 == hashlib.sha256(junk).hexdigest() and h.video_frames == []

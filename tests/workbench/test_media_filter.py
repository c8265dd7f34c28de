"""Icons, tracking pixels and tiny images never become items: counted, not stored."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.bootstrap import build as build_services
from openhotline.capture.crawler import CapturedMedia
from openhotline.capture.filter import MediaFilter, filter_media, image_size
from openhotline.cases.models import Case, CaseEvent, CaseEventKind, CaseStatus
from openhotline.config import Settings
from openhotline.db import transaction
from openhotline.jobs.queue import build_queue
from openhotline.media.models import Item
from openhotline.reporting.schemas import ReportIn
from openhotline.reporting.service import submit_report
from tests.pipeline_support import LocalSite, make_image

HOSTS = {"host-a.test": ["127.0.0.1"]}
PHOTO = make_image(1, size=(200, 150))
ICON = make_image(2, size=(16, 16))
PIXEL = make_image(3, "GIF", size=(1, 1))
BANNER = make_image(4, size=(400, 20))  # a spacer or rule: thin, however wide


@pytest.fixture
def site() -> Iterator[LocalSite]:
    s = LocalSite().start()
    yield s
    s.stop()


def _m(body: bytes, media_type: str = "image/png") -> CapturedMedia:
    return CapturedMedia("http://x.test/a", media_type, body)


def test_filter_drops_small_by_pixels_and_bytes() -> None:
    rules = MediaFilter(min_side=48, min_bytes=512)
    out = filter_media(
        [_m(PHOTO), _m(ICON), _m(PIXEL, "image/gif"), _m(BANNER), _m(b"x" * 100, "video/mp4")],
        rules,
    )
    assert [m.body for m in out.kept] == [PHOTO]
    assert out.dropped == 4
    assert "4 icon(s) or tiny image(s)" in out.describe()


def test_filter_keeps_unreadable_images_and_large_video() -> None:
    out = filter_media([_m(b"\x89PNG" + b"\0" * 2000), _m(b"v" * 4000, "video/mp4")], MediaFilter())
    assert len(out.kept) == 2 and out.dropped == 0


def test_zero_minimums_keep_everything() -> None:
    out = filter_media([_m(ICON), _m(PIXEL, "image/gif")], MediaFilter(min_side=0, min_bytes=0))
    assert len(out.kept) == 2


def test_image_size_reads_the_header_only() -> None:
    assert image_size(PHOTO) == (200, 150)
    assert image_size(b"not an image") is None


def test_capture_job_filters_icons_and_records_the_count(
    settings: Settings, session_factory: sessionmaker[Session], site: LocalSite
) -> None:
    site.html(
        "/page",
        '<img src="/favicon.png"><img src="/photo.png"><img src="/beacon.gif">'
        '<img src="/rule.png">',
    )
    site.media("/favicon.png", ICON)
    site.media("/photo.png", PHOTO)
    site.media("/beacon.gif", PIXEL, content_type="image/gif")
    site.media("/rule.png", BANNER)
    s = settings.model_copy(
        update={"crawler_allow_networks": ["127.0.0.0/8"], "dns_overrides": HOSTS}
    )
    with transaction(session_factory) as session:
        submit_report(session, ReportIn(urls=[site.url("/page", "host-a.test")]))
    rt = build_services(s)
    build_queue(rt, name=f"t{uuid.uuid4().hex[:8]}").drain()
    rt.close()
    with session_factory() as session:
        case = session.execute(select(Case)).scalar_one()
        assert case.status == CaseStatus.TRIAGE
        items = list(session.execute(select(Item)).scalars())
        assert [i.sha256 for i in items] == [hashlib.sha256(PHOTO).hexdigest()]
        event = session.execute(
            select(CaseEvent).where(CaseEvent.kind == CaseEventKind.MEDIA_FILTERED)
        ).scalar_one()
        assert event.detail is not None and event.detail.startswith("3 icon(s)")
    # Not stored: the only file on disk is the photo's (plus the key).
    stored = [p for p in (s.data_dir / "media").rglob("*") if p.is_file()]
    assert len(stored) == 1


def test_filter_minimums_are_settings(settings: Settings) -> None:
    assert settings.capture_min_image_side == 48
    assert settings.capture_min_media_bytes == 512
    with pytest.raises(ValueError, match="capture_min_image_side"):
        Settings(capture_min_image_side=-1)

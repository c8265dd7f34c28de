"""The console for videos: contact sheet (blurred, no audio), frame reveals budgeted and audited,
"video matching off" said plainly, vPDQ shares on the bank page, and `config check`.

The contact sheet decodes with OpenCV (always installed), so these run without vpdq.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageChops
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from openhotline.assessment.models import Reveal
from openhotline.audit import service as audit
from openhotline.cli import app
from openhotline.db import now as db_now
from openhotline.db import transaction
from openhotline.matching import service
from openhotline.matching.models import HashBank
from openhotline.media.hashing import crypto_hashes
from openhotline.media.models import CaseItem, Item, ItemVideo, VideoState
from tests.console_fixtures import Items, Staff, login
from tests.video import synth


def _is_grey(data: bytes) -> bool:
    r, g, b = Image.open(io.BytesIO(data)).convert("RGB").split()
    return all(ImageChops.difference(r, x).getextrema()[1] <= 3 for x in (g, b))


def _video_item(items: Items, tmp_path: Path, state: VideoState, detail: str = "") -> int:
    data = synth.clip(tmp_path / "c.mp4", seed=5, seconds=4).read_bytes()
    c = crypto_hashes(data)
    case_id = items.case("http://videos.example.test/watch")
    with transaction(items.factory) as s:
        item = Item(
            sha256=c.sha256, md5=c.md5, sha1=c.sha1, size=len(data), media_type="video/mp4",
            storage_key=items.store.put(c.sha256, data), source="crawler", created_at=db_now(s),
        )  # fmt: skip
        s.add(item)
        s.flush()
        s.add(CaseItem(case_id=case_id, item_id=item.id, captured_at=db_now(s)))
        s.add(ItemVideo(item_id=item.id, state=state, detail=detail, frame_count=0,
                        duration=0.0, frames="", created_at=db_now(s)))  # fmt: skip
        return item.id


def _post(client: TestClient, url: str, csrf: str, **data: str) -> str:
    response = client.post(url, data={"csrf_token": csrf, **data}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


def test_video_item_contact_sheet_and_frame_reveals(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    items: Items,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    item_id = _video_item(items, tmp_path, VideoState.OFF, "vpdq is not installed")
    a = new_client()
    csrf = login(a, make_user("ana"))
    page = a.get(f"/console/items/{item_id}").text
    assert "video matching off" in page and "pip install" in page
    _post(a, f"/console/items/{item_id}/claim", csrf)
    page = a.get(f"/console/items/{item_id}").text
    assert 'alt="blurred contact sheet"' in page and 'id="reveal-frame"' in page
    assert 'id="reveal"' not in page  # a video is revealed one frame at a time
    sheet = a.get(f"/console/items/{item_id}/preview")
    assert sheet.headers["content-type"] == "image/jpeg" and _is_grey(sheet.content)
    assert Image.open(io.BytesIO(sheet.content)).size == (510, 510)  # 3 x 3 cells
    bad = a.post(f"/console/items/{item_id}/reveal", data={"csrf_token": csrf, "frame": "10"})
    assert bad.status_code == 422
    for frame in ("3", "7"):
        _post(a, f"/console/items/{item_id}/reveal", csrf, frame=frame)
        page = a.get(f"/console/items/{item_id}").text
        assert f"frame {frame} revealed" in page
        assert not _is_grey(a.get(f"/console/items/{item_id}/preview").content)
    assert "2 reveal(s)" in page  # each revealed frame counts once
    _post(a, f"/console/items/{item_id}/hide", csrf)
    assert _is_grey(a.get(f"/console/items/{item_id}/preview").content)
    with session_factory() as s:
        frames = s.scalars(select(Reveal.frame).where(Reveal.item_id == item_id)).all()
        assert sorted(f for f in frames if f is not None) == [2, 6]
        reveals = [e for e in audit.recent(s, limit=50) if e.action == "item.reveal"]
        assert sorted(json.loads(e.details).get("frame") for e in reveals) == [3, 7]


def test_bank_page_shows_video_off_and_sets_vpdq_shares(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with transaction(session_factory) as s:
        bank_id = service.create_bank(s, "videos").id
    admin = new_client()
    csrf = login(admin, make_user("root", "admin"))
    monkeypatch.setattr("openhotline.console.banks_views.video_available", lambda: False)
    page = admin.get("/console/banks").text
    assert 'id="video-off"' in page and "Video matching is off" in page
    row = page.split('data-bank="videos"')[1].split("</tr>")[0]
    assert '<span class="frame-share">80%</span>' in row
    monkeypatch.setattr("openhotline.console.banks_views.video_available", lambda: True)
    assert 'id="video-off"' not in admin.get("/console/banks").text
    url = f"/console/banks/{bank_id}/vpdq"
    bad = admin.post(url, data={"csrf_token": csrf, "frame_share": "150"})
    assert bad.status_code == 400 and "between 0 and 1" in bad.text
    bad = admin.post(url, data={"csrf_token": csrf, "frame_share": "lots"})
    assert bad.status_code == 400 and "percentages" in bad.text
    _post(admin, url, csrf, frame_share="70", target_share="25")
    with session_factory() as s:
        bank = s.get(HashBank, bank_id)
        assert bank is not None
        assert (bank.vpdq_frame_share, bank.vpdq_target_share) == (0.7, 0.25)
        assert any(e.action == "bank.policy" and "vpdq_frame_share" in e.details
                   for e in audit.recent(s, limit=20))  # fmt: skip


def test_config_check_says_whether_video_matching_is_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("openhotline.media.video.video_available", lambda: False)
    r = CliRunner().invoke(app, ["config", "check"])
    assert "[video]" in r.output and "video matching is off" in r.output
    assert "pip install 'openhotline[video]'" in r.output

"""POST /api/v1/match/video: vPDQ frames as JSON (no vpdq needed), or the file (vpdq needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from openhotline.db import transaction
from openhotline.matching import service
from openhotline.matching import video as vbanks
from openhotline.media.video import VideoFrame, format_te_json, format_vpdq


def _frames(seed: int, n: int = 10) -> list[VideoFrame]:
    rng = np.random.default_rng(seed)
    return [VideoFrame(rng.bytes(32).hex(), 100, i * 30, float(i)) for i in range(n)]


def _bank(api: TestClient, frames: list[VideoFrame]) -> str:
    factory = api.app.state.services.sessionmaker  # type: ignore[attr-defined]
    with transaction(factory) as s:
        bank = service.create_bank(s, "partner-videos")
        entry, _ = vbanks.add_video(s, bank, frames, source="secret", classification="A1")
        return entry.hash_value


def test_match_video_by_frames_json(api: TestClient) -> None:
    frames = _frames(1)
    digest = _bank(api, frames)
    # 9 of the 10 frames, in threatexchange's serialisation: 100% of the query matches.
    r = api.post("/api/v1/match/video", json={"vpdq": format_te_json(frames[:9])})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["matched"] and body["frames"] == 9
    (m,) = body["matches"]
    assert (m["bank"], m["hash"], m["classification"]) == ("partner-videos", digest, "A1")
    assert m["query_share"] == 1.0 and m["target_share"] == 0.9
    assert m["matched_how"] == "vPDQ, 100% of frames" and m["source"] is None
    # Half the query unrelated: 50% < the bank's 80%.
    mixed = frames[:5] + _frames(2, 5)
    r = api.post("/api/v1/match/video", json={"vpdq": format_vpdq(mixed)})
    assert r.status_code == 200 and r.json()["matched"] is False


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"vpdq": "0,100,zz,0"}, 422, "64 hex digits"),
        ({"vpdq": ""}, 422, "invalid video match request"),
        ({"frames": []}, 422, "invalid video match request"),
    ],
)
def test_bad_video_match_requests_are_refused(
    api: TestClient, body: dict[str, object], status: int, says: str
) -> None:
    r = api.post("/api/v1/match/video", json=body)
    assert r.status_code == status and says in r.text


def test_match_video_file_upload(api: TestClient, tmp_path: Path) -> None:
    pytest.importorskip("vpdq", reason="the [video] extra (vpdq + libav*) is not installed")
    from openhotline.media.video import hash_video
    from tests.video import synth

    clip = synth.clip(tmp_path / "c.mp4", seed=21, seconds=5)
    _bank(api, hash_video(synth.reencode(clip, tmp_path / "v.mp4", scale=0.5)).frames)
    r = api.post("/api/v1/match/video", files={"file": ("c.mp4", clip.read_bytes(), "video/mp4")})
    assert r.status_code == 200, r.text
    assert r.json()["matched"] and r.json()["matches"][0]["query_share"] >= 0.8
    bad = api.post("/api/v1/match/video", files={"file": ("x.mp4", b"\x00" * 4096, "video/mp4")})
    assert bad.status_code == 422 and "cannot" in bad.text


def test_match_video_file_when_video_matching_is_off(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("openhotline.media.video.video_available", lambda: False)
    r = api.post("/api/v1/match/video", files={"file": ("c.mp4", b"\x00" * 4096, "video/mp4")})
    assert r.status_code == 503 and "video matching is off" in r.text

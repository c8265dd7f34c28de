"""The `openhotline hash`, `bank` and `scan` commands end to end (generated images only)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps
from typer.testing import CliRunner

from openhotline.cli import app
from openhotline.config import get_settings
from openhotline.migrate import upgrade

pytestmark = pytest.mark.db


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("OPENHOTLINE_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    upgrade(get_settings().resolved_database_url())
    yield CliRunner()
    get_settings.cache_clear()


def scene(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:240, 0:320].astype(np.float32)
    img = np.stack(
        [127 + 90 * np.sin(rng.uniform(1, 5) * x / 50 + c) * np.cos(y / 40) for c in range(3)], -1
    )
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def test_hash_bank_and_scan(cli: CliRunner, tmp_path: Path) -> None:
    imgs = tmp_path / "imgs"
    (imgs / "sub").mkdir(parents=True)
    scene(1).save(imgs / "a.jpg", quality=90)
    ImageOps.mirror(scene(1)).save(imgs / "sub" / "a_mirror.png")
    scene(2).save(imgs / "b.png")
    (imgs / "notes.txt").write_text("not an image")
    (imgs / "broken.jpg").write_bytes((imgs / "a.jpg").read_bytes()[:700])

    r = cli.invoke(app, ["hash", str(imgs / "a.jpg")])
    assert r.exit_code == 0, r.output
    h = json.loads(r.stdout)
    assert {"md5", "sha1", "sha256", "pdq", "pdq_quality"} <= h.keys()
    r = cli.invoke(app, ["hash", str(imgs / "broken.jpg")])
    assert r.exit_code == 1

    assert cli.invoke(app, ["bank", "create", "own"]).exit_code == 0
    assert cli.invoke(app, ["bank", "create", "own"]).exit_code == 1
    listing = tmp_path / "list.csv"
    listing.write_text(
        "hash_type,hash,classification,source\n"
        f"pdq,{h['pdq']},category A,own\n"
        "md5,not-a-hash,category B,own\n"
        f"md5,{'0' * 32},category B,own\n"
    )
    r = cli.invoke(app, ["bank", "import", "own", str(listing)])
    assert r.exit_code == 0, r.output
    # The all-zero MD5 is degenerate and refused (hardening).
    assert "added 1, duplicates 0, bad rows skipped 2" in r.stdout
    assert "1 x md5 hash is not hexadecimal (e.g. line 3)" in r.stdout
    r = cli.invoke(app, ["bank", "export", "own"])
    assert r.stdout.splitlines() == [f"pdq {h['pdq']}"]
    r = cli.invoke(app, ["bank", "export", "own", "--format", "csv"])
    assert r.stdout.splitlines()[0] == "hash_type,hash,source,classification,added_by,added_at"
    assert cli.invoke(app, ["bank", "import", "nope", str(listing)]).exit_code == 1

    r = cli.invoke(app, ["scan", str(imgs), "--bank", "own", "--workers", "2"])
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    by_name = {Path(x["path"]).name: x for x in lines}
    assert len(by_name) == 5
    assert by_name["a.jpg"]["matches"][0]["distance"] == 0
    assert by_name["a_mirror.png"]["matches"][0]["matched_by"] == "pdq:flip_h"
    assert by_name["a_mirror.png"]["matches"][0]["matched_how"] == "PDQ, mirrored"
    assert by_name["b.png"]["matches"] == []
    assert by_name["notes.txt"]["status"] == "skipped"
    assert by_name["broken.jpg"]["status"] == "unreadable"
    assert "5 files: 2 matched, 1 unreadable, 1 skipped" in r.stderr

    r = cli.invoke(app, ["scan", str(imgs), "--bank", "own", "--format", "csv", "--no-geometric"])
    assert r.exit_code == 0
    assert r.stdout.splitlines()[0] == "path,status,md5,sha256,pdq,pdq_quality,matches"
    assert len(r.stdout.splitlines()) == 6


def test_video_frames_match_through_the_index(cli: CliRunner, tmp_path: Path) -> None:
    pytest.importorskip("vpdq", reason="the [video] extra is not installed")
    frames = [scene(s // 4) for s in range(12)]  # three 'shots' of four frames
    video = tmp_path / "clip.gif"  # libav decodes GIF, so no encoder is needed
    frames[0].save(video, save_all=True, append_images=frames[1:], duration=500, loop=0)
    r = cli.invoke(app, ["video", str(video)])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert len(out["frames"]) >= 3 and len(out["sha256"]) == 64
    first = out["frames"][0]["pdq"]
    assert cli.invoke(app, ["bank", "create", "videos"]).exit_code == 0
    assert cli.invoke(app, ["bank", "add", "videos", "pdq", first]).exit_code == 0
    r = cli.invoke(app, ["video", str(video), "--bank", "videos"])
    [m] = json.loads(r.stdout)["matches"]
    assert m["bank"] == "videos" and 1 <= m["frames_matched"] < m["frames_total"]
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 5000)
    assert cli.invoke(app, ["video", str(bad)]).exit_code == 1


def test_add_image_stores_variants_that_catch_a_crop(cli: CliRunner, tmp_path: Path) -> None:
    img = scene(7)
    img.save(tmp_path / "item.png")
    w, h = img.size
    img.crop((w // 20, h // 20, w - w // 20, h - h // 20)).save(tmp_path / "crop.jpg", quality=90)
    assert cli.invoke(app, ["bank", "create", "own"]).exit_code == 0
    r = cli.invoke(app, ["bank", "add-image", "own", str(tmp_path / "item.png")])
    assert r.exit_code == 0, r.output
    assert ": 10 entries" in r.stdout  # md5, sha256, pdq and 7 variants
    r = cli.invoke(app, ["scan", str(tmp_path), "--bank", "own", "--workers", "1"])
    lines = {Path(x["path"]).name: x for x in map(json.loads, r.stdout.splitlines())}
    matches = lines["crop.jpg"]["matches"]
    assert matches, lines["crop.jpg"]
    assert min(m["distance"] for m in matches) <= 31

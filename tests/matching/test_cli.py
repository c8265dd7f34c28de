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
    assert "added 2, duplicates 0, bad rows skipped 1" in r.stdout
    assert "line 3: md5 hash is not hexadecimal" in r.stdout
    r = cli.invoke(app, ["bank", "export", "own"])
    assert r.stdout.splitlines() == [f"pdq {h['pdq']}", f"md5 {'0' * 32}"]
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
    assert by_name["b.png"]["matches"] == []
    assert by_name["notes.txt"]["status"] == "skipped"
    assert by_name["broken.jpg"]["status"] == "unreadable"
    assert "5 files: 2 matched, 1 unreadable, 1 skipped" in r.stderr

    r = cli.invoke(app, ["scan", str(imgs), "--bank", "own", "--format", "csv"])
    assert r.exit_code == 0
    assert r.stdout.splitlines()[0] == "path,status,md5,sha256,pdq,pdq_quality,matches"
    assert len(r.stdout.splitlines()) == 6

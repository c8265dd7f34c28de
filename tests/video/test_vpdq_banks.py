"""vpdq bank entries without decoding video: vPDQ hash files in and out, bad input refused.

These need no vpdq install (hash files are text); matching a captured video is in
test_video_capture.py, which needs the [video] extra.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from openhotline.cli import app
from openhotline.config import get_settings
from openhotline.matching.formats import parse_lines
from openhotline.media.video import (
    VideoFrame,
    format_te_json,
    format_vpdq,
    parse_vpdq,
    vpdq_digest,
)
from openhotline.migrate import upgrade


def _frames(seed: int, n: int = 12) -> list[VideoFrame]:
    rng = np.random.default_rng(seed)
    return [VideoFrame(rng.bytes(32).hex(), 100, i * 30, float(i)) for i in range(n)]


def test_vpdq_file_and_threatexchange_json_round_trip() -> None:
    frames = _frames(1)
    assert parse_vpdq(format_vpdq(frames)) == frames
    # threatexchange's signal drops frame numbers: they come back as positions.
    back = parse_vpdq(format_te_json(frames))
    assert [(f.pdq, f.quality, f.timestamp) for f in back] == [
        (f.pdq, f.quality, f.timestamp) for f in frames
    ]
    assert vpdq_digest(frames) == vpdq_digest(parse_vpdq(format_vpdq(frames)))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no frame hashes"),
        ("0,100,abc,0.0\n", "64 hex digits"),
        ("0,100," + "g" * 64 + ",0.0\n", "64 hex digits"),
        ("0,101," + "a" * 64 + ",0.0\n", "between 0 and 100"),
        ("0,100," + "a" * 64 + ",-1\n", "seconds >= 0"),
        ("0,100," + "a" * 64 + "\n", "expected 'frame_number"),
        ("x,100," + "a" * 64 + ",0\n", "frame number must be an integer"),
        ('["' + "a" * 64 + ',100"]', 'expected "pdq_hex'),
        ("[1, 2]", "JSON list of"),
        ("[not json", "not a JSON list"),
    ],
)
def test_bad_vpdq_text_is_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_vpdq(text)


def test_hash_list_import_points_vpdq_lines_to_import_video() -> None:
    (row,) = list(parse_lines(["vpdq " + "a" * 64 + "\n"]))
    assert "import-video" in getattr(row, "reason", "")


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("OPENHOTLINE_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    upgrade(get_settings().resolved_database_url())
    yield CliRunner()
    get_settings.cache_clear()


@pytest.mark.db
def test_bank_import_export_video_cli(cli: CliRunner, tmp_path: Path) -> None:
    frames = _frames(2)
    vfile = tmp_path / "a.vpdq"
    vfile.write_text(format_vpdq(frames))
    jfile = tmp_path / "b.json"
    jfile.write_text(format_te_json(_frames(3)))
    bad = tmp_path / "bad.vpdq"
    bad.write_text("0,100,zz,0\n")
    assert cli.invoke(app, ["bank", "create", "videos"]).exit_code == 0
    r = cli.invoke(app, ["bank", "import-video", "videos", str(vfile), str(jfile), str(bad)])
    assert r.exit_code == 1  # one bad file: the good ones are in, the bad one is named
    assert "added, 12 frames" in r.output and "64 hex digits" in r.output
    r = cli.invoke(app, ["bank", "import-video", "videos", str(vfile)])
    assert r.exit_code == 0 and "already in the bank" in r.output
    r = cli.invoke(app, ["bank", "export-video", "videos"])
    lines = [json.loads(x) for x in r.output.splitlines()]
    assert [x["hash"] for x in lines] == [
        vpdq_digest(frames),
        vpdq_digest(parse_vpdq(jfile.read_text())),
    ]
    assert parse_vpdq(lines[0]["signal"])[0].pdq == frames[0].pdq
    out = tmp_path / "out"
    assert cli.invoke(app, ["bank", "export-video", "videos", "--dir", str(out)]).exit_code == 0
    assert parse_vpdq((out / f"{vpdq_digest(frames)}.vpdq").read_text()) == frames
    # A hash-list export leaves video entries out; asking for them says where they are.
    assert "vpdq" not in cli.invoke(app, ["bank", "export", "videos"]).output
    r = cli.invoke(app, ["bank", "export", "videos", "--type", "vpdq"])
    assert r.exit_code == 1 and "export-video" in r.output
    r = cli.invoke(app, ["bank", "vpdq-shares", "videos", "--frame-share", "1.5"])
    assert r.exit_code == 1 and "between 0 and 1" in r.output
    r = cli.invoke(app, ["bank", "vpdq-shares", "videos", "--frame-share", "0.7"])
    assert r.exit_code == 0 and "vpdq_frame_share 0.7" in r.output
    r = cli.invoke(app, ["bank", "remove-video", "videos", vpdq_digest(frames)])
    assert r.exit_code == 0 and "removed" in r.output
    assert len(cli.invoke(app, ["bank", "export-video", "videos"]).output.splitlines()) == 1

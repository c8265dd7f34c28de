"""`scan --checkpoint`: an interrupted scan resumes, every file in the output once; `--ray`
without Ray. (Ray scans themselves: test_scan_ray.py.)"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.matching.scan_support import make_folder, records
from typer.testing import CliRunner

from openhotline.cli import app
from openhotline.config import get_settings
from openhotline.migrate import upgrade


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("OPENHOTLINE_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    upgrade(get_settings().resolved_database_url())
    yield CliRunner()
    get_settings.cache_clear()


def test_an_interrupted_scan_resumes_from_its_checkpoint(cli: CliRunner, tmp_path: Path) -> None:
    folder = make_folder(cli, tmp_path, n=6)
    ck = tmp_path / "scan.ckpt"
    args = ["scan", str(folder), "--bank", "own", "--workers", "1", "--no-geometric"]
    full = cli.invoke(app, [*args, "--checkpoint", str(ck)])
    assert full.exit_code == 0, full.output
    want = {r["path"]: r for r in records(full.stdout)}
    assert len(want) == 9
    lines = ck.read_bytes().splitlines(keepends=True)
    assert len(lines) == 1 + 9  # the scan's description, then one line per file

    # Interrupted after two files, in the middle of writing the third.
    kept = [json.loads(x)["path"] for x in lines[1:3]]
    forged = json.loads(lines[1])
    forged["pdq_quality"] = -1  # shows that a finished file is not scanned again
    ck.write_bytes(lines[0] + json.dumps(forged).encode() + b"\n" + lines[2] + lines[3][:25])
    again = cli.invoke(app, [*args, "--checkpoint", str(ck)])
    assert again.exit_code == 0, again.output
    out = records(again.stdout)
    assert sorted(r["path"] for r in out) == sorted(want)  # every file, once
    got = {r["path"]: r for r in out}
    assert got[kept[0]]["pdq_quality"] == -1
    assert {p: r for p, r in got.items() if p != kept[0]} == {
        p: r for p, r in want.items() if p != kept[0]
    }
    summary = full.stderr.splitlines()[-1]
    assert summary.startswith("9 files: ") and summary.endswith(", 1 unreadable, 1 skipped")
    assert again.stderr.splitlines()[-1] == summary
    resumed = [json.loads(x) for x in ck.read_bytes().splitlines()[1:]]
    assert sorted(r["path"] for r in resumed) == sorted(want)  # torn line dropped, rest added

    # Done: a third run scans nothing and prints the same, here as CSV.
    csv_run = cli.invoke(app, [*args, "--checkpoint", str(ck), "--format", "csv"])
    assert csv_run.exit_code == 0, csv_run.output
    rows = csv_run.stdout.splitlines()
    assert rows[0] == "path,status,md5,sha256,pdq,pdq_quality,matches"
    assert len(rows) == 10
    assert any(",own:" in row for row in rows)


def test_a_checkpoint_of_another_scan_is_refused(cli: CliRunner, tmp_path: Path) -> None:
    folder = make_folder(cli, tmp_path, n=2)
    ck = tmp_path / "scan.ckpt"
    args = ["scan", str(folder), "--bank", "own", "--workers", "1", "--checkpoint", str(ck)]
    assert cli.invoke(app, [*args, "--no-regions"]).exit_code == 0
    r = cli.invoke(app, args)  # other options: its results would not be this scan's
    assert r.exit_code == 1
    assert "not a checkpoint of this scan" in r.stderr
    assert r.stdout == ""
    ck.write_text("garbage\n")
    assert "not a checkpoint of this scan" in cli.invoke(app, args).stderr


def test_ray_without_ray_installed_says_how_to_get_it(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_folder(cli, tmp_path, n=1)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if not installed
    r = cli.invoke(app, ["scan", str(folder), "--bank", "own", "--ray", "auto"])
    assert r.exit_code == 1
    assert "pip install 'openhotline[ray]'" in r.stderr


def test_ray_at_an_address_where_nothing_answers_fails_at_once(
    cli: CliRunner, tmp_path: Path
) -> None:
    pytest.importorskip("ray", reason="Ray is not installed")
    folder = make_folder(cli, tmp_path, n=1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        cases = [
            (f"127.0.0.1:{port}", "no Ray cluster answers at"),
            ("nowhere", "--ray must be 'auto' or the head's HOST:PORT"),
        ]
        for target, says in cases:
            r = cli.invoke(app, ["scan", str(folder), "--bank", "own", "--ray", target])
            assert r.exit_code == 1
            assert says in r.stderr

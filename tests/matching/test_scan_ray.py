"""`openhotline scan --ray`: the same output on a two-node Ray cluster on 127.0.0.1, a node
killed mid-scan losing and doubling nothing, and `--ray auto` (a runtime of its own).

Skipped without Ray (the ray extra; CI installs it). The cluster is started by the tests
(`ray start` for a head and a worker, one CPU and a 100 MB object store each) and always
stopped, with every process it started (tests/ray_cluster.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.matching.scan_support import make_folder, records
from tests.ray_cluster import Cluster, leftover, running
from typer.testing import CliRunner

import openhotline
from openhotline.cli import app
from openhotline.config import get_settings
from openhotline.migrate import upgrade

pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]'; CI does)")
pytestmark = pytest.mark.slow

SRC = str(Path(openhotline.__file__).resolve().parents[1])


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": SRC + (os.pathsep + path if path else "")}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    c = Cluster(_env())
    try:
        c.start_head()
        c.add_worker()
        yield c
    finally:
        c.stop()
    assert leftover(c.tmp) == []


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("OPENHOTLINE_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    upgrade(get_settings().resolved_database_url())
    yield CliRunner()
    get_settings.cache_clear()


def _scan(env: dict[str, str], tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    """`openhotline scan ...` in a process of its own, stdout to tmp_path/out.jsonl."""
    env = {**env, "OPENHOTLINE_DATA_DIR": str(tmp_path / "var")}
    with open(tmp_path / "out.jsonl", "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "openhotline", "scan", *args],
            stdout=out, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip


def _by_path(recs: list[dict[str, object]]) -> list[dict[str, object]]:
    return sorted(recs, key=lambda r: str(r["path"]))


def test_a_ray_scan_prints_what_the_local_scan_prints(
    cli: CliRunner, cluster: Cluster, tmp_path: Path
) -> None:
    folder = make_folder(cli, tmp_path, n=12)
    local = cli.invoke(app, ["scan", str(folder), "--bank", "own", "--workers", "1"])
    assert local.exit_code == 0, local.output
    proc = _scan(
        cluster.env, tmp_path, str(folder), "--bank", "own", "--ray", cluster.address,
        "--batch", "3",
    )  # fmt: skip
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    got = records((tmp_path / "out.jsonl").read_text())
    assert _by_path(got) == _by_path(records(local.stdout))  # matches, bad files and all
    assert err.splitlines()[-1] == local.stderr.splitlines()[-1]  # the summary
    assert "scanning" in err  # progress on stderr


def test_a_node_killed_mid_scan_loses_and_doubles_nothing(
    cli: CliRunner, cluster: Cluster, tmp_path: Path
) -> None:
    folder = make_folder(cli, tmp_path, n=90)
    total = 90 + 3
    ck = tmp_path / "scan.ckpt"
    proc = _scan(
        cluster.env, tmp_path, str(folder), "--bank", "own", "--ray", cluster.address,
        "--batch", "2", "--checkpoint", str(ck),
    )  # fmt: skip
    out = tmp_path / "out.jsonl"
    try:
        worker = cluster.nodes[-1]
        deadline = time.monotonic() + 180
        while not running(worker, "_scan_batch"):  # until the worker node runs a batch
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.02)
        cluster.kill(worker)  # the whole node, with the batch it was running
        done_at_kill = out.read_bytes().count(b"\n")
        _, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert done_at_kill < total  # killed mid-scan
    got = records(out.read_text())
    seen = Counter(str(r["path"]) for r in got)
    assert len(seen) == total and set(seen.values()) == {1}  # every file, once
    statuses = Counter(str(r["status"]) for r in got)
    assert statuses == {"ok": total - 2, "unreadable": 1, "skipped": 1}  # none lost as bad
    matched = sum(1 for r in got if r.get("matches"))
    summary = err.splitlines()[-1]
    assert summary == f"{total} files: {matched} matched, 1 unreadable, 1 skipped"
    in_checkpoint = Counter(str(r["path"]) for r in records(ck.read_text())[1:])
    assert in_checkpoint == seen


def test_ray_auto_starts_a_runtime_of_its_own_and_stops_it(cli: CliRunner, tmp_path: Path) -> None:
    folder = make_folder(cli, tmp_path, n=4)
    local = cli.invoke(app, ["scan", str(folder), "--bank", "own", "--workers", "1"])
    ray_tmp = tempfile.mkdtemp(prefix="ohray")  # short: Ray's sockets live under it
    env = {**_env(), "RAY_TMPDIR": ray_tmp, "RAY_USAGE_STATS_ENABLED": "0"}
    try:
        proc = _scan(env, tmp_path, str(folder), "--bank", "own", "--ray", "auto", "--workers", "1")
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        got = records((tmp_path / "out.jsonl").read_text())
        assert _by_path(got) == _by_path(records(local.stdout))
        assert err.splitlines()[-1] == local.stderr.splitlines()[-1]
        time.sleep(1)
        assert leftover(ray_tmp) == []  # the runtime stopped with the scan
    finally:
        for pid in leftover(ray_tmp):
            os.kill(pid, 9)
        shutil.rmtree(ray_tmp, ignore_errors=True)

"""`hash`, `scan` and `bank` against hostile files: pipes, links, huge lines, formula cells."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.matching.test_cli import scene
from typer.testing import CliRunner

from openhotline.cli import app
from openhotline.config import get_settings
from openhotline.migrate import upgrade

pytestmark = [pytest.mark.db, pytest.mark.timeout(120)]

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("OPENHOTLINE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("OPENHOTLINE_CRAWLER_MAX_MEDIA_BYTES", str(2 * 1024 * 1024))
    get_settings.cache_clear()
    upgrade(get_settings().resolved_database_url())
    yield CliRunner()
    get_settings.cache_clear()


def test_hash_skips_pipes_and_files_over_the_capture_limit(cli: CliRunner, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # reading it would wait forever for a writer
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (2 * 1024 * 1024 + 1))
    good = tmp_path / "a.png"
    scene(3).save(good)
    r = cli.invoke(app, ["hash", str(fifo), str(big), str(good)])
    assert r.exit_code == 1
    stderr = " ".join(r.stderr.split())  # rich wraps long lines
    assert "not a regular file" in stderr
    assert "capture limit" in stderr
    assert json.loads(r.stdout)["file"] == str(good)


def test_scan_skips_pipes_and_stays_in_the_folder_unless_asked(
    cli: CliRunner, tmp_path: Path
) -> None:
    assert cli.invoke(app, ["bank", "create", "own"]).exit_code == 0
    outside = tmp_path / "outside"
    outside.mkdir()
    scene(4).save(outside / "secret.png")
    folder = tmp_path / "scan"
    folder.mkdir()
    scene(5).save(folder / "in.png")
    os.mkfifo(folder / "pipe")
    (folder / "link.png").symlink_to(outside / "secret.png")
    (folder / "dirlink").symlink_to(outside, target_is_directory=True)
    (folder / "loop").symlink_to(folder, target_is_directory=True)

    def statuses(*extra: str) -> dict[str, dict[str, str]]:
        r = cli.invoke(app, ["scan", str(folder), "--bank", "own", "--workers", "1", *extra])
        assert r.exit_code == 0, r.output
        rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
        return {os.path.relpath(x["path"], folder): x for x in rows}

    kept = statuses()
    assert set(kept) == {"in.png", "pipe", "link.png"}
    assert kept["in.png"]["status"] == "ok"
    assert kept["pipe"] == {"path": str(folder / "pipe"), "status": "skipped",
                            "reason": "not a regular file"}  # fmt: skip
    assert kept["link.png"]["status"] == "skipped"
    assert "out of the folder" in kept["link.png"]["reason"]
    followed = statuses("--follow-links")
    assert followed["link.png"]["status"] == "ok"
    assert followed[os.path.join("dirlink", "secret.png")]["status"] == "ok"
    assert not any(p.startswith("loop") for p in followed)  # the cycle is cut


def test_csv_export_neutralises_formula_cells(cli: CliRunner, tmp_path: Path) -> None:
    assert cli.invoke(app, ["bank", "create", "partner"]).exit_code == 0
    listing = tmp_path / "partner.csv"
    listing.write_text(
        "hash_type,hash,classification,source,added_by\n"
        f'pdq,{PDQ},=HYPERLINK("x"),+1,@SUM(1)\n'
        f"md5,{'1a' * 16},-2,-x,plain\n"
    )
    r = cli.invoke(app, ["bank", "import", "partner", str(listing)])
    assert r.exit_code == 0, r.output
    r = cli.invoke(app, ["bank", "export", "partner", "--format", "csv"])
    rows = r.stdout.splitlines()[1:]
    assert rows[0].startswith(f'pdq,{PDQ},\'+1,"\'=HYPERLINK(""x"")",\'@SUM(1),')
    assert rows[1].startswith(f"md5,{'1a' * 16},'-x,'-2,plain,")


def test_import_refuses_degenerate_hashes_and_exits_1_when_nothing_was_imported(
    cli: CliRunner, tmp_path: Path
) -> None:
    assert cli.invoke(app, ["bank", "create", "b"]).exit_code == 0
    bad = tmp_path / "bad.txt"
    bad.write_text(
        f"# exported by a partner\npdq {'0' * 64}\npdq {'F' * 64}\n# another comment\npdq nothex\n"
    )
    r = cli.invoke(app, ["bank", "import", "b", str(bad)])
    assert r.exit_code == 1, r.output
    assert "added 0, duplicates 0, bad rows skipped 3, comment lines 2" in r.stdout
    assert "1 x pdq hash is degenerate (all bits zero) (e.g. line 2)" in r.stdout
    assert "1 x pdq hash is degenerate (all bits one) (e.g. line 3)" in r.stdout
    assert "nothing imported" in " ".join(r.stderr.split())
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing here\n\n")
    assert cli.invoke(app, ["bank", "import", "b", str(empty)]).exit_code == 1
    # Hex in any case: upper-case is stored lower-case.
    good = tmp_path / "good.txt"
    good.write_text(f"pdq {PDQ.upper()}\n")
    r = cli.invoke(app, ["bank", "import", "b", str(good)])
    assert r.exit_code == 0 and "added 1" in r.stdout
    assert cli.invoke(app, ["bank", "export", "b"]).stdout.strip() == f"pdq {PDQ}"


def test_import_of_garbage_keeps_bounded_lines_and_reasons(cli: CliRunner, tmp_path: Path) -> None:
    assert cli.invoke(app, ["bank", "create", "g"]).exit_code == 0
    garbage = tmp_path / "garbage.txt"
    with garbage.open("w") as fh:
        fh.write(f"pdq {PDQ}\n")
        fh.write("x" * 3_000_000 + "\n")  # one huge line: read past, not held
        fh.write("y" * 100_000)  # and one without a line break at the end
        fh.write("\n")
        for i in range(500):  # 500 distinct reasons (each quotes its type name)
            fh.write(f"type{i} {PDQ}\n")
    r = cli.invoke(app, ["bank", "import", "g", str(garbage)])
    assert r.exit_code == 0, r.output
    assert "added 1, duplicates 0, bad rows skipped 502" in r.stdout
    assert "2 x line longer than 4096 characters (e.g. line 2, 3)" in r.stdout
    reason_lines = [x for x in r.stdout.splitlines() if " x " in x]
    assert len(reason_lines) <= 22  # 20 reasons, "other reasons", the long lines
    assert any("other reasons" in x for x in reason_lines)
    assert len(r.stdout) < 5000

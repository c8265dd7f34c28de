"""Schema migrations: an interrupted upgrade leaves a database the next upgrade can finish."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import op
from sqlalchemy import create_engine, inspect

from openhotline.migrate import downgrade, upgrade


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_a_migration_failing_half_way_is_rolled_back_on_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill (or error) inside one migration must not leave its first tables behind:
    SQLite once kept them, and the re-run failed with 'table already exists'."""
    url = f"sqlite:///{tmp_path / 'half.db'}"
    real_create_table = op.create_table
    calls = {"n": 0}

    def failing_create_table(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:  # inside the first migration, after two of its tables
            raise RuntimeError("power cut")
        return real_create_table(*args, **kwargs)

    monkeypatch.setattr(op, "create_table", failing_create_table)
    with pytest.raises(RuntimeError, match="power cut"):
        upgrade(url)
    monkeypatch.setattr(op, "create_table", real_create_table)
    half = _tables(url)
    upgrade(url)  # finishes what was left
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(fresh)
    assert _tables(url) == _tables(fresh)
    assert half <= {"alembic_version"}  # the failed migration left nothing behind


def test_downgrade_then_upgrade_round_trips(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'round.db'}"
    upgrade(url)
    full = _tables(url)
    downgrade(url, "0001")
    assert "jobs" not in _tables(url)
    upgrade(url)
    assert _tables(url) == full


def test_db_downgrade_command(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENHOTLINE_")}
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env["OPENHOTLINE_DATABASE_URL"] = url

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "openhotline", "db", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert run("upgrade").returncode == 0
    down = run("downgrade", "0300")
    assert down.returncode == 0, down.stderr
    assert "jobs" not in _tables(url)
    bad = run("downgrade", "nonsense")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1

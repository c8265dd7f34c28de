"""`openhotline partner ...` and `openhotline keys ...` from the command line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openhotline.cli import app
from openhotline.config import get_settings


@pytest.fixture
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("OPENHOTLINE_DATABASE_URL", db_url)
    monkeypatch.setenv("OPENHOTLINE_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_partner_cli(env: None) -> None:
    run = CliRunner().invoke
    assert run(app, ["partner", "add", "Police X", "--kind", "police"]).exit_code == 0
    bad = run(app, ["partner", "add", "Police X", "--kind", "police"])
    assert bad.exit_code == 1 and "exists" in bad.output
    r = run(app, ["partner", "key-new", "Police X", "--scope", "hashes.match"])
    assert r.exit_code == 0 and "ohp_" in r.output
    assert run(app, ["partner", "key-new", "Nobody", "--scope", "hashes.match"]).exit_code == 1
    assert run(app, ["partner", "key-revoke", "1"]).exit_code == 0
    assert "revoked" in run(app, ["partner", "list"]).output
    assert run(app, ["partner", "key-revoke", "99"]).exit_code == 1


def test_keys_cli(env: None, tmp_path: Path) -> None:
    run = CliRunner().invoke
    assert "no signing key" in run(app, ["keys", "show"]).output
    first = run(app, ["keys", "generate"])
    assert first.exit_code == 0
    assert run(app, ["keys", "generate"]).exit_code == 1
    pub = run(app, ["keys", "show"]).output.strip()
    assert "BEGIN PUBLIC KEY" in run(app, ["keys", "show", "--pem"]).output
    rotated = run(app, ["keys", "rotate"])
    assert rotated.exit_code == 0 and "old key kept" in rotated.output
    assert run(app, ["keys", "show"]).output.strip() != pub

"""Runtime settings changes (audited) and the `openhotline user add` command."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from openhotline.accounts import service as accounts
from openhotline.audit import service as audit
from openhotline.cli import app as cli_app
from openhotline.config import get_settings
from openhotline.db import transaction
from tests.console_fixtures import PASSWORD, Staff, login


def test_admin_changes_a_setting_and_it_is_audited(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
) -> None:
    admin = new_client()
    csrf = login(admin, make_user("root", "admin"))
    page = admin.get("/console/admin/settings")
    assert page.status_code == 200 and 'data-key="exposure_budget_minutes"' in page.text
    for bad in ("0", "abc", "99999", "-5"):
        refused = admin.post(
            "/console/admin/settings/exposure_budget_minutes",
            data={"csrf_token": csrf, "value": bad},
        )
        assert refused.status_code == 400, bad
    unknown = admin.post(
        "/console/admin/settings/secret_key", data={"csrf_token": csrf, "value": "5"}
    )
    assert unknown.status_code == 400 and "unknown setting" in unknown.text
    ok = admin.post(
        "/console/admin/settings/exposure_budget_minutes",
        data={"csrf_token": csrf, "value": "90"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert '<td class="value">90</td>' in admin.get("/console/admin/settings").text
    analyst = new_client()
    login(analyst, make_user("ana"))
    assert "of 90 minutes" in analyst.get("/console/queue").text
    with session_factory() as s:
        changes = [audit.details_of(e) for e in audit.recent(s, action_prefix="setting.")]
    assert changes == [{"from": 300, "to": 90}]


def test_analyst_cannot_change_settings(
    console_app: TestClient, make_user: Callable[..., Staff]
) -> None:
    csrf = login(console_app, make_user("ana"))
    response = console_app.post(
        "/console/admin/settings/exposure_budget_minutes", data={"csrf_token": csrf, "value": "999"}
    )
    assert response.status_code == 403


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A CLI runner on the test database."""
    monkeypatch.setenv("OPENHOTLINE_DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_user_add_prints_secrets_once_and_they_work(
    cli: CliRunner, session_factory: sessionmaker[Session]
) -> None:
    result = cli.invoke(
        cli_app,
        ["user", "add", "first-admin", "--role", "admin"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    secret = next(
        line.split(":", 1)[1].strip()
        for line in result.output.splitlines()
        if "TOTP secret" in line
    )
    assert "otpauth://totp/" in result.output
    codes = [
        line.strip()
        for line in result.output.splitlines()
        if line.startswith("  ") and "-" in line and ":" not in line
    ]
    assert len(codes) == 10
    with transaction(session_factory) as s:
        policy = accounts.AuthPolicy()
        ok = accounts.authenticate(s, "first-admin", PASSWORD, pyotp.TOTP(secret).now(), policy)
        assert ok.user is not None and ok.user.role == "admin"
    again = cli.invoke(cli_app, ["user", "add", "first-admin"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert again.exit_code == 1 and "already exists" in again.output
    weak = cli.invoke(cli_app, ["user", "add", "bob"], input="short\nshort\n")
    assert weak.exit_code == 1 and "at least 12" in weak.output

"""Administrators reset a password and an authenticator (audited), see a QR code; user list."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from urllib.parse import unquote

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from openhotline.accounts.permissions import ROLE_PERMISSIONS, roles_least_privileged_first
from openhotline.audit.models import AuditAction, AuditEntry
from openhotline.cli import app as cli_app
from openhotline.config import Settings
from openhotline.db import transaction
from tests.console.test_workbench_ops import _cli_env
from tests.console_fixtures import PASSWORD, Staff, csrf_of, login

NEW_PASSWORD = "a different long passphrase"


def test_new_user_form_defaults_to_the_least_privileged_role(
    new_client: Callable[[], TestClient], make_user: Callable[..., Staff]
) -> None:
    admin = new_client()
    login(admin, make_user("root", "admin"))
    page = admin.get("/console/admin/users").text
    select_html = page[page.index('id="nu-role"') :].split("</select>")[0]
    chosen = re.search(r'<option value="([^"]+)" selected', select_html)
    assert chosen is not None
    fewest = min(len(p) for p in ROLE_PERMISSIONS.values())
    assert len(ROLE_PERMISSIONS[chosen.group(1)]) == fewest
    assert chosen.group(1) != "admin"
    assert roles_least_privileged_first()[0] == chosen.group(1)


def test_admin_resets_password_and_authenticator(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
) -> None:
    admin = new_client()
    csrf = login(admin, make_user("root", "admin"))
    ana = make_user("ana")
    ana_client = new_client()
    login(ana_client, ana)

    weak = admin.post(
        f"/console/admin/users/{ana.id}/password", data={"csrf_token": csrf, "password": "short"}
    )
    assert weak.status_code == 400
    done = admin.post(
        f"/console/admin/users/{ana.id}/password",
        data={"csrf_token": csrf, "password": NEW_PASSWORD},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"].endswith("msg=password_reset")
    # Her session ended; the old password no longer works, the new one does.
    assert ana_client.get("/console/", follow_redirects=False).status_code in (303, 401)
    fresh = new_client()
    page = fresh.get("/console/login")
    old = fresh.post(
        "/console/login",
        data={
            "username": "ana",
            "password": PASSWORD,
            "code": ana.recovery_codes[0],
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert old.status_code != 303
    ana.password = NEW_PASSWORD
    login(new_client(), ana, code=ana.recovery_codes[1])

    reset = admin.post(f"/console/admin/users/{ana.id}/totp", data={"csrf_token": csrf})
    assert reset.status_code == 200
    secret = re.search(r'id="new-secret">([A-Z2-7]+)<', reset.text)
    assert secret is not None and secret.group(1) != ana.totp_secret
    src = re.search(
        r'<img src="(data:image/svg\+xml[^"]+)" alt="TOTP enrolment QR code"', reset.text
    )
    assert src is not None and "<svg" in unquote(src.group(1))
    assert "http" not in unquote(src.group(1)).split("xmlns")[0]  # nothing fetched from outside
    ana.totp_secret = secret.group(1)
    ana._offset = -1
    login(new_client(), ana)  # the new authenticator works
    with transaction(session_factory) as s:
        actions = set(s.execute(select(AuditEntry.action)).scalars())
    assert {AuditAction.USER_PASSWORD_RESET, AuditAction.USER_TOTP_RESET} <= actions
    assert pyotp.TOTP(secret.group(1)).now()  # a valid base32 secret


def test_user_list_command(
    make_user: Callable[..., Staff], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user("ana")
    make_user("cara", "counsellor")
    _cli_env(settings, monkeypatch)
    result = CliRunner().invoke(cli_app, ["user", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["username"], r["role"], r["status"]) for r in rows] == [
        ("ana", "analyst", "active"),
        ("cara", "counsellor", "active"),
    ]
    table = CliRunner().invoke(cli_app, ["user", "list"])
    assert "cara\tcounsellor\tactive\tnever" in table.output

"""Console login over HTTP: cookies, CSRF, session fixation, lockout, logout."""

from __future__ import annotations

from collections.abc import Callable

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from openhotline.accounts.deps import COOKIE_NAME
from openhotline.audit import service as audit
from openhotline.config import Settings
from tests.console_fixtures import PASSWORD, Staff, csrf_of, login


def test_console_redirects_to_login(console_app: TestClient) -> None:
    response = console_app.get("/console/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login"


def test_cookie_flags(settings: Settings, make_user: Callable[..., Staff]) -> None:
    from openhotline.app import create_app

    with TestClient(create_app(settings), base_url="https://testserver") as client:
        page = client.get("/console/login")
        cookie = page.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie


def test_login_and_logout(console_app: TestClient, make_user: Callable[..., Staff]) -> None:
    staff = make_user("alice")
    csrf = login(console_app, staff)
    assert "Welcome, alice" in console_app.get("/console/").text
    refused = console_app.post("/console/logout", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert "CSRF" in refused.text
    out = console_app.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert console_app.get("/console/", follow_redirects=False).status_code == 303


def test_session_fixation_prevented(
    new_client: Callable[[], TestClient], make_user: Callable[..., Staff]
) -> None:
    """An attacker plants a pre-login session id; after the victim logs in it is worthless."""
    staff = make_user("alice")
    attacker = new_client()
    attacker.get("/console/login")
    planted = attacker.cookies[COOKIE_NAME]
    domain = next(c.domain for c in attacker.cookies.jar if c.name == COOKIE_NAME)
    victim = new_client()
    victim.cookies.set(COOKIE_NAME, planted, domain=domain)
    login(victim, staff)
    assert victim.cookies[COOKIE_NAME] != planted
    # The planted id is not a session of the victim's: the attacker is still logged out.
    assert attacker.get("/console/", follow_redirects=False).status_code == 303
    fixated = new_client()
    fixated.cookies.set(COOKIE_NAME, planted, domain=domain)
    assert fixated.get("/console/", follow_redirects=False).status_code == 303


def test_login_form_needs_its_csrf_token(
    console_app: TestClient, make_user: Callable[..., Staff]
) -> None:
    staff = make_user("alice")
    console_app.get("/console/login")
    response = console_app.post(
        "/console/login",
        data={"username": "alice", "password": PASSWORD, "code": staff.code()},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert console_app.get("/console/", follow_redirects=False).status_code == 303


def test_wrong_code_gives_generic_error_and_lockout(
    console_app: TestClient,
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
) -> None:
    staff = make_user("alice")
    page = console_app.get("/console/login")
    token = csrf_of(page.text)
    good = pyotp.TOTP(staff.totp_secret).now()
    for _ in range(5):
        bad = console_app.post(
            "/console/login",
            data={
                "username": "alice",
                "password": "nope nope nope",
                "code": good,
                "csrf_token": token,
            },
        )
        assert bad.status_code == 401
        assert "Wrong username, password or code" in bad.text
    locked = console_app.post(
        "/console/login",
        data={"username": "alice", "password": PASSWORD, "code": good, "csrf_token": token},
    )
    assert locked.status_code == 401
    with session_factory() as s:
        reasons = [
            audit.details_of(e).get("reason") for e in audit.recent(s, action_prefix="login")
        ]
    assert reasons[0] == "locked"


def test_recovery_code_login_and_regenerate(
    console_app: TestClient, make_user: Callable[..., Staff]
) -> None:
    staff = make_user("alice")
    csrf = login(console_app, staff, code=staff.recovery_codes[0])
    page = console_app.get("/console/account")
    assert '<dd id="codes-left">9</dd>' in page.text
    new = console_app.post("/console/account/recovery-codes", data={"csrf_token": csrf})
    assert new.status_code == 200
    assert '<dd id="codes-left">10</dd>' in new.text
    assert staff.recovery_codes[1] not in new.text

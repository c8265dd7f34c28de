"""Login under hostile input and concurrency: one TOTP code, one session; every failure counts."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.accounts import service
from openhotline.accounts.models import User
from openhotline.app import create_app
from openhotline.audit.models import AuditEntry
from openhotline.config import Settings
from openhotline.db import transaction
from tests.console_fixtures import PASSWORD, Staff, csrf_of

POLICY = service.AuthPolicy(max_failures=50, lockout_minutes=15)
THREADS = 6


def _login_outcomes(factory: sessionmaker[Session], code: str) -> list[str]:
    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt() -> None:
        barrier.wait()
        try:
            with transaction(factory) as s:
                result = service.authenticate(s, "alice", PASSWORD, code, POLICY)
                outcome = "ok" if result.user else result.reason
        except Exception as exc:
            outcome = f"error: {exc!r}"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=attempt) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return outcomes


def test_one_totp_code_in_six_parallel_logins_gives_one_session(
    make_user: Callable[..., Staff], session_factory: sessionmaker[Session]
) -> None:
    staff = make_user("alice")
    code = pyotp.TOTP(staff.totp_secret).now()
    outcomes = _login_outcomes(session_factory, code)
    assert sorted(outcomes) == ["bad code"] * (THREADS - 1) + ["ok"], outcomes
    with session_factory() as s:
        actions = list(s.execute(select(AuditEntry.action)).scalars())
        assert actions.count("login.success") == 1
        assert actions.count("login.failure") == THREADS - 1


def test_parallel_failures_are_each_counted(
    make_user: Callable[..., Staff], session_factory: sessionmaker[Session]
) -> None:
    make_user("alice")
    outcomes = _login_outcomes(session_factory, "000000x")
    assert outcomes == ["bad code"] * THREADS, outcomes
    with session_factory() as s:
        user = s.execute(select(User).where(User.username == "alice")).scalar_one()
        assert user.failed_logins == THREADS


NON_ASCII_CODES = [
    "\u0661\u0662\u0663\u0664\u0665\u0666",  # Arabic-Indic digits: str.isdigit() is True
    "\uff11\uff12\uff13\uff14\uff15\uff16",  # full-width digits
    "\u096c\u096d\u096e\u096f\u0966\u0967",  # Devanagari digits
    "12345\u00b2",  # superscript two
    "\x00" * 6,
    "é" * 6,
]


def test_non_ascii_codes_with_the_right_password_fail_counted_and_audited(
    make_user: Callable[..., Staff], session_factory: sessionmaker[Session]
) -> None:
    make_user("alice")
    for code in NON_ASCII_CODES:
        with transaction(session_factory) as s:
            assert service.authenticate(s, "alice", PASSWORD, code, POLICY).reason == "bad code"
    with session_factory() as s:
        user = s.execute(select(User).where(User.username == "alice")).scalar_one()
        assert user.failed_logins == len(NON_ASCII_CODES)
        failures = s.execute(
            select(AuditEntry).where(AuditEntry.action == "login.failure")
        ).scalars()
        assert len(list(failures)) == len(NON_ASCII_CODES)


def test_hostile_login_form_input_is_a_401_counted_and_audited(
    console_settings: Settings,
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
) -> None:
    make_user("alice")
    lenient = console_settings.model_copy(update={"login_max_failures": 100})
    with TestClient(create_app(lenient)) as client:
        _post_logins(client)
    with session_factory() as s:
        user = s.execute(select(User).where(User.username == "alice")).scalar_one()
        assert user.failed_logins == len(NON_ASCII_CODES)
        failures = list(
            s.execute(select(AuditEntry).where(AuditEntry.action == "login.failure")).scalars()
        )
        assert len(failures) == len(NON_ASCII_CODES) + 2


def _post_logins(console_app: TestClient) -> None:
    attempts = [("alice", PASSWORD, code) for code in NON_ASCII_CODES]
    attempts += [("alice\x00", PASSWORD, "123456"), ("al\u202eice", "\x00" * 12, "\x00")]
    for username, password, code in attempts:
        page = console_app.get("/console/login")
        response = console_app.post(
            "/console/login",
            data={
                "username": username,
                "password": password,
                "code": code,
                "csrf_token": csrf_of(page.text),
            },
            follow_redirects=False,
        )
        assert response.status_code == 401, (username, code, response.text[:300])

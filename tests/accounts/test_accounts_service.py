"""Accounts service: users, passwords, TOTP with replay protection, recovery codes, lockout."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.accounts import credentials, service
from openhotline.accounts.models import RecoveryCode, User
from openhotline.audit import service as audit
from openhotline.db import transaction, utcnow
from tests.console_fixtures import PASSWORD, Staff

POLICY = service.AuthPolicy(max_failures=3, lockout_minutes=15)


def _auth(factory: sessionmaker[Session], name: str, password: str, code: str) -> str:
    with transaction(factory) as s:
        result = service.authenticate(s, name, password, code, POLICY)
        return "ok" if result.user else result.reason


@pytest.mark.parametrize(
    ("username", "password", "role", "message"),
    [
        ("a", PASSWORD, "analyst", "username"),
        ("Bad Name!", PASSWORD, "analyst", "username"),
        ("bob", "short", "analyst", "at least 12"),
        ("bob", PASSWORD, "superuser", "unknown role"),
    ],
)
def test_create_user_rejects_bad_input(
    session_factory: sessionmaker[Session], username: str, password: str, role: str, message: str
) -> None:
    with pytest.raises(service.AccountError, match=message), transaction(session_factory) as s:
        service.create_user(s, username, password, role)


def test_duplicate_username_refused(make_user: Callable[..., Staff]) -> None:
    make_user("alice")
    with pytest.raises(service.AccountError, match="already exists"):
        make_user("alice")


def test_password_is_argon2_and_codes_are_hashed(
    make_user: Callable[..., Staff], session_factory: sessionmaker[Session]
) -> None:
    staff = make_user("alice")
    with session_factory() as s:
        user = s.execute(select(User)).scalar_one()
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        stored = set(s.execute(select(RecoveryCode.code_hash)).scalars())
    assert len(stored) == 10
    assert not stored & set(staff.recovery_codes)
    assert credentials.hash_recovery_code(staff.recovery_codes[0]) in stored


def test_login_needs_password_and_totp(
    make_user: Callable[..., Staff], session_factory: sessionmaker[Session]
) -> None:
    staff = make_user("alice")
    totp = pyotp.TOTP(staff.totp_secret)
    assert _auth(session_factory, "alice", "wrong password!", totp.now()) == "bad password"
    wrong = f"{(int(totp.now()) + 1) % 1_000_000:06d}"
    assert _auth(session_factory, "alice", PASSWORD, wrong) == "bad code"
    assert _auth(session_factory, "nobody", PASSWORD, totp.now()) == "unknown user"
    assert _auth(session_factory, "ALICE ", PASSWORD, totp.now()) == "ok"


def test_totp_code_cannot_be_replayed(
    make_user: Callable[..., Staff], session_factory: sessionmaker[Session]
) -> None:
    staff = make_user("alice")
    code = pyotp.TOTP(staff.totp_secret).now()
    assert _auth(session_factory, "alice", PASSWORD, code) == "ok"
    assert _auth(session_factory, "alice", PASSWORD, code) == "bad code"


def test_recovery_code_works_once(
    make_user: Callable[..., Staff], session_factory: sessionmaker[Session]
) -> None:
    staff = make_user("alice")
    code = staff.recovery_codes[3].upper()
    assert _auth(session_factory, "alice", PASSWORD, code) == "ok"
    assert _auth(session_factory, "alice", PASSWORD, code) == "bad code"
    with session_factory() as s:
        assert service.unused_recovery_codes(s, staff.id) == 9


def test_lockout_after_repeated_failures(
    make_user: Callable[..., Staff], session_factory: sessionmaker[Session]
) -> None:
    staff = make_user("alice")
    for _ in range(3):
        assert _auth(session_factory, "alice", "wrong password!", "123456") == "bad password"
    good = pyotp.TOTP(staff.totp_secret).now()
    assert _auth(session_factory, "alice", PASSWORD, good) == "locked"
    with transaction(session_factory) as s:
        user = s.get(User, staff.id)
        assert user is not None and user.locked_until is not None
        assert user.locked_until > utcnow() + timedelta(minutes=14)
        service.unlock(s, user, actor="user:admin")
    assert _auth(session_factory, "alice", PASSWORD, good) == "ok"


def test_logins_are_audited(
    make_user: Callable[..., Staff], session_factory: sessionmaker[Session]
) -> None:
    staff = make_user("alice")
    _auth(session_factory, "alice", "wrong password!", "123456")
    _auth(session_factory, "alice", PASSWORD, pyotp.TOTP(staff.totp_secret).now())
    with session_factory() as s:
        actions = [(e.action, e.target) for e in reversed(audit.recent(s))]
        assert audit.verify(s).ok
    assert actions == [
        ("user.create", "user:alice"),
        ("login.failure", "user:alice"),
        ("login.success", "user:alice"),
    ]


def test_sessions_rotate_and_expire(
    make_user: Callable[..., Staff], session_factory: sessionmaker[Session]
) -> None:
    staff = make_user("alice")
    with transaction(session_factory) as s:
        anon = service.start_session(s, None, POLICY)
        user = s.get(User, staff.id)
        assert user is not None
        logged = service.login_session(s, anon.token, user, POLICY)
    assert logged.token != anon.token and logged.csrf_token != anon.csrf_token
    with transaction(session_factory) as s:
        assert service.load_session(s, anon.token, POLICY) is None
        info = service.load_session(s, logged.token, POLICY)
        assert info is not None and info.user is not None and info.user.username == "alice"
        short = service.AuthPolicy(max_hours=0)
        assert service.load_session(s, logged.token, short) is None
        service.end_session(s, logged.token)
        assert service.load_session(s, logged.token, POLICY) is None

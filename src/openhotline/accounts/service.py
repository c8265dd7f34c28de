"""Account use cases: create users, log in (password + TOTP), console sessions, lockout.

Services never commit: the caller owns the transaction.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from openhotline import db
from openhotline.accounts import credentials
from openhotline.accounts.models import ConsoleSession, RecoveryCode, User
from openhotline.accounts.permissions import ROLE_PERMISSIONS
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.errors import ConflictError, DomainError, ErrorKind, InvalidError, NotFoundError

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
ANONYMOUS_SESSION_MINUTES = 60


class AccountError(DomainError):
    """Every error account code raises on purpose (catch this); raise a kind below."""


class AccountInvalidError(AccountError, InvalidError):
    """A request about accounts that cannot be done; the message is safe to show."""

    kind = ErrorKind.INVALID


class AccountNotFoundError(AccountError, NotFoundError):
    """No such user."""

    kind = ErrorKind.NOT_FOUND


class AccountConflictError(AccountError, ConflictError):
    """A user of that name exists already."""

    kind = ErrorKind.CONFLICT


@dataclass(frozen=True)
class AuthPolicy:
    """Lockout and session lifetimes (from settings)."""

    max_failures: int = 5
    lockout_minutes: int = 15
    idle_minutes: int = 30
    max_hours: int = 12


@dataclass(frozen=True)
class NewUser:
    """A created user with the secrets shown exactly once."""

    user: User
    totp_secret: str
    provisioning_uri: str
    recovery_codes: list[str]


def create_user(
    session: Session, username: str, password: str, role: str, *, actor: str = "system"
) -> NewUser:
    """Create a staff user with a TOTP secret and recovery codes; audit it."""
    username = username.strip().lower()
    if not USERNAME_RE.match(username):
        raise AccountInvalidError("username: 2-64 characters a-z, 0-9, '.', '_' or '-'")
    if role not in ROLE_PERMISSIONS:
        raise AccountInvalidError(
            f"unknown role {role!r} (known: {', '.join(sorted(ROLE_PERMISSIONS))})"
        )
    problem = credentials.password_problem(password)
    if problem:
        raise AccountInvalidError(problem)
    if session.execute(select(User.id).where(User.username == username)).first():
        raise AccountConflictError(f"user {username!r} already exists")
    secret = credentials.new_totp_secret()
    user = User(
        username=username,
        role=role,
        password_hash=credentials.hash_password(password),
        totp_secret=secret,
        created_at=db.now(session),
    )
    session.add(user)
    session.flush()
    codes = _replace_recovery_codes(session, user)
    audit.record(session, actor, AuditAction.USER_CREATE, f"user:{username}", {"role": role})
    return NewUser(user, secret, credentials.provisioning_uri(secret, username), codes)


def _replace_recovery_codes(session: Session, user: User) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = credentials.new_recovery_codes()
    session.add_all(
        RecoveryCode(user_id=user.id, code_hash=credentials.hash_recovery_code(c)) for c in codes
    )
    session.flush()
    return codes


def regenerate_recovery_codes(session: Session, user: User) -> list[str]:
    """Replace a user's recovery codes; return the new ones (shown once)."""
    codes = _replace_recovery_codes(session, user)
    audit.record(session, user.actor, AuditAction.USER_RECOVERY_CODES, f"user:{user.username}", {})
    return codes


def unused_recovery_codes(session: Session, user_id: int) -> int:
    """Return how many recovery codes the user has left."""
    rows = session.execute(
        select(RecoveryCode.id).where(
            RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
        )
    ).all()
    return len(rows)


@dataclass(frozen=True)
class LoginResult:
    """The outcome of a login attempt; `user` is set only on success."""

    user: User | None
    reason: str = ""


def authenticate(
    session: Session, username: str, password: str, code: str, policy: AuthPolicy
) -> LoginResult:
    """Check password and TOTP (or a recovery code); count failures, lock, audit."""
    now = db.now(session)
    # NUL cannot be stored or compared in PostgreSQL text: such a name is no user's.
    name = username.strip().lower()[:64].replace("\x00", "\ufffd")
    user = session.execute(select(User).where(User.username == name)).scalar_one_or_none()
    password_ok = credentials.verify_password(user.password_hash if user else None, password)
    if user is None:
        audit.record(
            session, "anonymous", AuditAction.LOGIN_FAILURE, None, {"reason": "unknown user"}
        )
        return LoginResult(None, "unknown user")
    target = f"user:{user.username}"
    if not user.active:
        audit.record(session, user.actor, AuditAction.LOGIN_FAILURE, target, {"reason": "inactive"})
        return LoginResult(None, "inactive")
    if user.locked_until is not None and user.locked_until > now:
        audit.record(session, user.actor, AuditAction.LOGIN_FAILURE, target, {"reason": "locked"})
        return LoginResult(None, "locked")
    second_factor = ""
    if password_ok:
        counter = credentials.verify_totp(user.totp_secret, code, user.last_totp_counter, now)
        if counter is not None and _claim_totp_step(session, user, counter):
            second_factor = "totp"
        elif _use_recovery_code(session, user, code):
            second_factor = "recovery_code"
    if not second_factor:
        reason = "bad code" if password_ok else "bad password"
        _count_failure(session, user)
        details: dict[str, object] = {"reason": reason, "failures": user.failed_logins}
        if user.failed_logins >= policy.max_failures:
            user.locked_until = now + timedelta(minutes=policy.lockout_minutes)
            user.failed_logins = 0
            details["locked_minutes"] = policy.lockout_minutes
        audit.record(session, user.actor, AuditAction.LOGIN_FAILURE, target, details)
        return LoginResult(None, reason)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    audit.record(session, user.actor, AuditAction.LOGIN_SUCCESS, target, {"factor": second_factor})
    return LoginResult(user)


def _claim_totp_step(session: Session, user: User, counter: int) -> bool:
    """Record a TOTP time step as used, in one conditional UPDATE: True for the one winner.

    Checking in Python and then writing let six parallel logins with one code each see it
    unused (six sessions); the database decides instead, as for recovery codes.
    """
    result = session.execute(
        update(User)
        .where(User.id == user.id, User.last_totp_counter < counter)
        .values(last_totp_counter=counter)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        return False
    set_committed_value(user, "last_totp_counter", counter)
    return True


def _count_failure(session: Session, user: User) -> None:
    """Add one failed login in the database (parallel failures are each counted)."""
    failures = session.execute(
        update(User)
        .where(User.id == user.id)
        .values(failed_logins=User.failed_logins + 1)
        .returning(User.failed_logins)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    set_committed_value(user, "failed_logins", failures)


def _use_recovery_code(session: Session, user: User, code: str) -> bool:
    if len(credentials.normalise_recovery_code(code)) != 20:
        return False
    result = session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == credentials.hash_recovery_code(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=db.now(session))
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def _token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SessionInfo:
    """A live console session: its cookie token, CSRF token and user (None when anonymous)."""

    token: str
    csrf_token: str
    user: User | None


def start_session(session: Session, user: User | None, policy: AuthPolicy) -> SessionInfo:
    """Create a session (anonymous for the login form, or a user's); return its token."""
    now = db.now(session)
    if user is None:  # anonymous sessions come and go with the login form: purge old ones
        session.execute(
            delete(ConsoleSession).where(
                ConsoleSession.expires_at < now, ConsoleSession.user_id.is_(None)
            )
        )
    token = secrets.token_urlsafe(32)
    minutes = policy.idle_minutes if user else ANONYMOUS_SESSION_MINUTES
    row = ConsoleSession(
        id=_token_id(token),
        user_id=user.id if user else None,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(minutes=minutes),
    )
    session.add(row)
    session.flush()
    return SessionInfo(token, row.csrf_token, user)


def login_session(
    session: Session, old_token: str | None, user: User, policy: AuthPolicy
) -> SessionInfo:
    """Rotate: drop the pre-login session and issue a new id (no session fixation)."""
    if old_token:
        end_session(session, old_token)
    # Housekeeping: expired sessions of anyone are removed at each login.
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < db.now(session)))
    return start_session(session, user, policy)


def load_session(session: Session, token: str, policy: AuthPolicy) -> SessionInfo | None:
    """Return the live session for a cookie token (sliding idle expiry), else None."""
    if not token or len(token) > 128:
        return None
    row = session.get(ConsoleSession, _token_id(token))
    now = db.now(session)
    if row is None or row.expires_at <= now:
        return None
    user = None
    if row.user_id is not None:
        user = session.get(User, row.user_id)
        if user is None or not user.active:
            return None
        if now - row.created_at > timedelta(hours=policy.max_hours):
            return None
        # Slide the idle expiry, at most once a minute to spare writes.
        if now - row.last_seen_at > timedelta(minutes=1):
            row.last_seen_at = now
            row.expires_at = now + timedelta(minutes=policy.idle_minutes)
    return SessionInfo(token, row.csrf_token, user)


def end_session(session: Session, token: str) -> None:
    """Delete a session (logout)."""
    session.execute(delete(ConsoleSession).where(ConsoleSession.id == _token_id(token)))


def end_user_sessions(session: Session, user_id: int) -> None:
    """Delete every session of a user (role change, deactivation)."""
    session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user_id))


def list_users(session: Session) -> list[User]:
    """Return all users by name."""
    return list(session.execute(select(User).order_by(User.username)).scalars().all())


def get_user(session: Session, user_id: int) -> User:
    """Return a user by id or raise AccountError."""
    user = session.get(User, user_id)
    if user is None:
        raise AccountNotFoundError("no such user")
    return user


def set_role(session: Session, user: User, role: str, *, actor: str) -> None:
    """Change a user's role (their sessions end); audited."""
    if role not in ROLE_PERMISSIONS:
        raise AccountInvalidError(f"unknown role {role!r}")
    old = user.role
    user.role = role
    end_user_sessions(session, user.id)
    audit.record(
        session, actor, AuditAction.USER_ROLE, f"user:{user.username}", {"from": old, "to": role}
    )


def set_active(session: Session, user: User, active: bool, *, actor: str) -> None:
    """Activate or deactivate a user (their sessions end); audited."""
    user.active = active
    if not active:
        end_user_sessions(session, user.id)
    audit.record(
        session,
        actor,
        AuditAction.USER_ACTIVATE if active else AuditAction.USER_DEACTIVATE,
        f"user:{user.username}",
        {},
    )


def unlock(session: Session, user: User, *, actor: str) -> None:
    """Clear a lockout; audited."""
    user.locked_until = None
    user.failed_logins = 0
    audit.record(session, actor, AuditAction.USER_UNLOCK, f"user:{user.username}", {})


def reset_password(session: Session, user: User, password: str, *, actor: str) -> None:
    """Set a new password chosen by an administrator (sessions end, lockout cleared); audited."""
    problem = credentials.password_problem(password)
    if problem:
        raise AccountInvalidError(problem)
    user.password_hash = credentials.hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    end_user_sessions(session, user.id)
    audit.record(session, actor, AuditAction.USER_PASSWORD_RESET, f"user:{user.username}", {})


def reset_totp(session: Session, user: User, *, actor: str) -> NewUser:
    """Enrol a new authenticator (lost phone): new secret and recovery codes; audited."""
    secret = credentials.new_totp_secret()
    user.totp_secret = secret
    user.last_totp_counter = 0
    codes = _replace_recovery_codes(session, user)
    end_user_sessions(session, user.id)
    audit.record(session, actor, AuditAction.USER_TOTP_RESET, f"user:{user.username}", {})
    return NewUser(user, secret, credentials.provisioning_uri(secret, user.username), codes)


def usernames(session: Session) -> dict[int, str]:
    """Return every user's name by id (to label grades and audit rows)."""
    return {row.id: row.username for row in session.execute(select(User.id, User.username))}

"""Password, TOTP and recovery-code primitives (argon2id, RFC 6238, SHA-256)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
MIN_PASSWORD_LENGTH = 12
RECOVERY_CODE_COUNT = 10
TOTP_ISSUER = "openhotline"
# A valid hash for unknown users, so a login for a missing name costs the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
# Six ASCII digits only: str.isdigit() accepts Arabic-Indic, full-width and superscript digits,
# and compare_digest raises TypeError on non-ASCII text (an HTTP 500 that rolled back the
# failed-login count and its audit entry).
TOTP_CODE_RE = re.compile(r"[0-9]{6}")


def hash_password(password: str) -> str:
    """Return the argon2id hash of a password."""
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Check a password against its hash in constant time (a dummy hash when None)."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    """Return why a new password is unacceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"password must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > 1024:
        return "password must be at most 1024 characters"
    return None


def new_totp_secret() -> str:
    """Return a fresh base32 TOTP secret (160 bits)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, username: str, issuer: str = TOTP_ISSUER) -> str:
    """Return the otpauth:// URI an authenticator app scans."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def verify_totp(secret: str, code: str, last_counter: int, now: datetime) -> int | None:
    """Return the time step of a valid, unused code (±1 step of drift), else None."""
    code = code.strip().replace(" ", "")
    if not TOTP_CODE_RE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for counter in (current - 1, current, current + 1):
        if counter <= last_counter:
            continue
        if hmac.compare_digest(totp.generate_otp(counter), code):
            return counter
    return None


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """Return fresh one-time recovery codes like 'a1b2c-3d4e5' (80 random bits each)."""
    return [f"{secrets.token_hex(5)}-{secrets.token_hex(5)}" for _ in range(count)]


def normalise_recovery_code(code: str) -> str:
    """Lower-case and strip spaces and dashes, so a code typed any way hashes the same."""
    return "".join(c for c in code.lower() if c.isalnum())


def hash_recovery_code(code: str) -> str:
    """Return the stored digest of a recovery code (80 random bits: a fast hash suffices)."""
    return hashlib.sha256(normalise_recovery_code(code).encode()).hexdigest()


def enrolment_qr(uri: str) -> str:
    """The provisioning URI as a QR code, an SVG data: URI drawn here (no external service)."""
    import segno

    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=4))

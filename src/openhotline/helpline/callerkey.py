"""Pseudonymous returning-caller keys: recognise a caller without storing who they are.

A channel identity (an SMS sender's phone number, a WhatsApp id) is first normalised, so
that +447700900123, 07700900123, 0044 7700 900123 and "whatsapp:+447700900123" are the
same caller, then replaced by HMAC-SHA256(year key, "tel:+447700900123"). Only that hex
digest is stored (on the conversation and the case).

The year key is derived from the helpline secret (the helpline key, OPENHOTLINE_HELPLINE_KEY
or data_dir/keys/helpline.key) with HKDF-SHA256, one per calendar year (UTC): on 1 January
every caller gets a new key, so keys cannot link contacts over more than about two years.
A caller who writes again across the year boundary is still found: the lookup tries this
year's key, then last year's, and a case found under last year's key is re-keyed to this
year's. A caller away for a whole calendar year starts afresh. Without the helpline secret
a key cannot be computed from a phone number, so a database copy alone reveals nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_SEPARATORS = re.compile(r"[\s\-().]")
_DIGITS = re.compile(r"^\+?\d{6,15}$")


class IdentityError(ValueError):
    """A channel identity that is not a usable phone number or id."""


def normalise_phone(raw: str, default_country_code: str) -> str:
    """Return the E.164 form (+<digits>) of a phone number in any common format.

    A national number (leading 0) takes the default country calling code; 00 is the
    international prefix; bare digits are read as international (country code first).
    """
    text = _SEPARATORS.sub("", raw.strip())
    if text.lower().startswith("tel:"):
        text = text[4:]
    if not _DIGITS.match(text):
        raise IdentityError("not a phone number")
    if text.startswith("+"):
        digits = text[1:]
    elif text.startswith("00"):
        digits = text[2:]
    elif text.startswith("0"):
        digits = default_country_code + text[1:]
    else:
        digits = text
    if not 8 <= len(digits) <= 15 or digits.startswith("0"):
        raise IdentityError("not a phone number")
    return "+" + digits


def normalise_identity(channel: str, raw: str, default_country_code: str) -> str:
    """Return the canonical identity of a sender on a channel ("tel:+44...").

    SMS and WhatsApp senders are phone numbers, so the same person writing on both is one
    caller. Twilio prefixes WhatsApp senders with "whatsapp:".
    """
    text = raw.strip()
    if channel == "whatsapp" and text.lower().startswith("whatsapp:"):
        text = text[len("whatsapp:") :]
    if channel in ("sms", "whatsapp", "phone"):
        return "tel:" + normalise_phone(text, default_country_code)
    raise IdentityError(f"channel {channel!r} has no caller identity")


class CallerKeys:
    """Computes returning-caller keys from the helpline secret (one key per year)."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the helpline secret must be at least 16 bytes")
        self._secret = secret
        self._years: dict[int, bytes] = {}

    def year_key(self, year: int) -> bytes:
        """The HMAC key of a calendar year (HKDF-SHA256 of the helpline secret)."""
        key = self._years.get(year)
        if key is None:
            key = HKDF(
                algorithm=hashes.SHA256(),
                length=32,
                salt=b"openhotline helpline caller key",
                info=f"caller-key:{year:04d}".encode(),
            ).derive(self._secret)
            self._years[year] = key
        return key

    def key(self, identity: str, year: int) -> str:
        """The caller key (64 hex) of a normalised identity in a year."""
        return hmac.new(self.year_key(year), identity.encode("utf-8"), hashlib.sha256).hexdigest()

    def candidates(self, identity: str, year: int) -> list[str]:
        """Keys to look a caller up by: this year's first, then last year's."""
        return [self.key(identity, year), self.key(identity, year - 1)]

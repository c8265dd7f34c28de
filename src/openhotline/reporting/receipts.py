"""Receipt codes: 100 random bits in Crockford base32, grouped for people to type."""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
RECEIPT_BITS = 100
RECEIPT_CHARS = RECEIPT_BITS // 5  # 20 characters
_CONFUSABLE = str.maketrans({"I": "1", "L": "1", "O": "0"})


def new_receipt() -> str:
    """Return a fresh, unguessable, non-sequential receipt code (normalised, no dashes)."""
    value = secrets.randbits(RECEIPT_BITS)
    chars = []
    for _ in range(RECEIPT_CHARS):
        chars.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(chars)


def format_receipt(code: str) -> str:
    """Group a normalised receipt as XXXX-XXXX-XXXX-XXXX-XXXX for display."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalise_receipt(text: str) -> str | None:
    """Turn what a person typed into a normalised code, or None if it cannot be one."""
    cleaned = "".join(ch for ch in text.upper() if ch not in " -_\t").translate(_CONFUSABLE)
    if len(cleaned) != RECEIPT_CHARS or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned

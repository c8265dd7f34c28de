"""Receipt codes: 100 random bits in Crockford base32, grouped for people to type."""

from __future__ import annotations

import os
import secrets
import threading

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
RECEIPT_BITS = 100
RECEIPT_CHARS = RECEIPT_BITS // 5  # 20 characters
_CONFUSABLE = str.maketrans({"I": "1", "L": "1", "O": "0"})


# One character per random byte, from its low 5 bits (a uniform byte's low 5 bits are
# uniform): 20 bytes give 100 random bits through one C-speed `translate`. Python 3.11's
# base64.b32encode is pure Python and was ~9% of the writer's CPU on partner batches.
_BYTE_TO_CHAR = bytes(ALPHABET.encode()[b & 31] for b in range(256))


class _RandomPool:
    """The OS's CSPRNG read 256 receipts at a time instead of once per receipt.

    Each `getrandom` call drops the GIL, and taking it back from the group-commit writer
    cost ~6% of the intake's event-loop thread (py-spy, 2 server processes at 50 clients).
    The bytes are the same `secrets`-quality bytes; a forked child starts with none.
    """

    CHUNK = RECEIPT_CHARS * 256

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._pos = 0

    def take(self, n: int) -> bytes:
        """n fresh random bytes, never handed out twice."""
        with self._lock:
            if self._pos + n > len(self._buffer):
                self._buffer, self._pos = secrets.token_bytes(max(self.CHUNK, n)), 0
            out = self._buffer[self._pos : self._pos + n]
            self._pos += n
            return out

    def clear(self) -> None:
        """Forget the buffered bytes (a forked child must not reuse its parent's)."""
        self._buffer, self._pos = b"", 0


_POOL = _RandomPool()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_POOL.clear)


def new_receipt() -> str:
    """Return a fresh, unguessable, non-sequential receipt code (normalised, no dashes)."""
    return _POOL.take(RECEIPT_CHARS).translate(_BYTE_TO_CHAR).decode("ascii")


def format_receipt(code: str) -> str:
    """Group a normalised receipt as XXXX-XXXX-XXXX-XXXX-XXXX for display."""
    if len(code) == RECEIPT_CHARS:  # every stored code: slices, no generator (batch answers)
        return f"{code[:4]}-{code[4:8]}-{code[8:12]}-{code[12:16]}-{code[16:]}"
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalise_receipt(text: str) -> str | None:
    """Turn what a person typed into a normalised code, or None if it cannot be one."""
    cleaned = "".join(ch for ch in text.upper() if ch not in " -_\t").translate(_CONFUSABLE)
    if len(cleaned) != RECEIPT_CHARS or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned

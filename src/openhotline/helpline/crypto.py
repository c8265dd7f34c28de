"""AES-GCM for helpline free text at rest (the pattern of openhotline.media.store)."""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
MAGIC = b"OHH1"  # format marker: version 1 = magic | nonce | AES-256-GCM ciphertext+tag


class CipherError(Exception):
    """A value fails authentication (tampered, moved to another row, or wrong key)."""


class FieldCipher:
    """Encrypts short texts; the associated data binds each value to its row and field."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("helpline key must be 32 bytes")
        self._aead = AESGCM(key)

    def encrypt(self, text: str, context: str) -> bytes:
        """Encrypt text under a context such as 'contact:<ref>:notes'."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        return MAGIC + nonce + self._aead.encrypt(nonce, text.encode("utf-8"), context.encode())

    def decrypt(self, blob: bytes, context: str) -> str:
        """Decrypt a value made by encrypt() with the same context."""
        if not blob.startswith(MAGIC):
            raise CipherError("unknown ciphertext format")
        nonce = blob[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
        try:
            plain = self._aead.decrypt(nonce, blob[len(MAGIC) + NONCE_BYTES :], context.encode())
        except InvalidTag as exc:
            raise CipherError("value failed authentication (tampered or wrong key)") from exc
        return plain.decode("utf-8")

"""Media at rest: AES-GCM encrypted blobs behind a small MediaStore protocol."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
MAGIC = b"OHM1"  # format marker: version 1 = magic | nonce | AES-256-GCM ciphertext+tag


class MediaStoreError(Exception):
    """A blob is missing or fails authentication (tampered or wrong key)."""


class MediaStore(Protocol):
    """Where media bytes live; implementations must never keep plaintext at rest."""

    def put(self, sha256: str, data: bytes) -> str:
        """Store bytes whose SHA-256 is sha256; return the storage key."""
        ...

    def get(self, key: str) -> bytes:
        """Return the plaintext bytes of a stored blob."""
        ...

    def delete(self, key: str) -> None:
        """Remove a blob (absent blobs are ignored)."""
        ...


def load_or_create_key(path: Path) -> bytes:
    """Read a 256-bit key from path, creating it (mode 0600) on first use."""
    if path.exists():
        key = base64.b64decode(path.read_text().strip())
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = AESGCM.generate_key(bit_length=256)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(base64.b64encode(key).decode())
    if len(key) != 32:
        raise ValueError(f"media key in {path} must be 32 bytes (base64)")
    return key


class EncryptedFileStore:
    """Encrypted local files; names are keyed hashes so file names reveal nothing."""

    def __init__(self, root: Path, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("media key must be 32 bytes")
        self.root = root
        self._aead = AESGCM(key)
        self._name_key = hashlib.sha256(b"openhotline-media-name" + key).digest()

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise MediaStoreError("invalid storage key")
        return self.root / key[:2] / key

    def put(self, sha256: str, data: bytes) -> str:
        """Encrypt and store data; the same bytes always get the same key (deduplicated)."""
        key = hmac.new(self._name_key, sha256.encode(), hashlib.sha256).hexdigest()
        path = self._path(key)
        if path.exists():
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        nonce = secrets.token_bytes(NONCE_BYTES)
        blob = MAGIC + nonce + self._aead.encrypt(nonce, data, key.encode())
        tmp = path.with_suffix(f".tmp{secrets.token_hex(4)}")
        with open(tmp, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
        return key

    def get(self, key: str) -> bytes:
        """Decrypt and return a blob; MediaStoreError if missing or tampered."""
        path = self._path(key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError as exc:
            raise MediaStoreError("blob not found") from exc
        if not blob.startswith(MAGIC):
            raise MediaStoreError("unknown blob format")
        nonce = blob[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, blob[len(MAGIC) + NONCE_BYTES :], key.encode())
        except InvalidTag as exc:
            raise MediaStoreError("blob failed authentication (tampered or wrong key)") from exc

    def delete(self, key: str) -> None:
        """Remove a blob if present."""
        self._path(key).unlink(missing_ok=True)

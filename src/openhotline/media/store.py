"""Media at rest: AES-GCM encrypted blobs behind a small MediaStore protocol.

Each blob is encrypted under its own random data key; the data key is wrapped (AES key
wrap, RFC 3394) by the master media key and travels inside the storage key that the
database row keeps ("k2.<name>.<wrapped key>"). The file holds only ciphertext, so blanking
the row's storage key (retention purge) makes every copy of the file unreadable, backups
included: crypto-shredding. Blobs of format 1 (a bare 64-hex storage key, encrypted under
the master key itself) still decrypt; `retention rekey-media` moves them to format 2.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

NONCE_BYTES = 12
MAGIC = b"OHM1"  # format marker: version 1 = magic | nonce | AES-256-GCM ciphertext+tag
MAGIC2 = b"OHM2"  # version 2: the same, under the blob's own data key (wrapped in its key)
KEY_PREFIX = "k2."


def is_legacy_key(key: str) -> bool:
    """A format-1 storage key: the blob is encrypted under the master key itself."""
    return not key.startswith(KEY_PREFIX)


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
    """Encrypted local files under random names, one data key per file (see module doc)."""

    def __init__(self, root: Path, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("media key must be 32 bytes")
        self.root = root
        # The key-encryption key is derived, so the master key serves one algorithm each.
        self._master = hashlib.sha256(b"openhotline-media-kek" + key).digest()
        self._aead = AESGCM(key)  # format 1 only

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise MediaStoreError("invalid storage key")
        return self.root / key[:2] / key

    def _write(self, path: Path, blob: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{secrets.token_hex(4)}")
        with open(tmp, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)

    def _split(self, key: str) -> tuple[str, bytes | None]:
        """(file name, wrapped data key) of a storage key; no data key for format 1."""
        if is_legacy_key(key):
            return key, None
        try:
            name, wrapped = key.removeprefix(KEY_PREFIX).split(".", 1)
            return name, base64.urlsafe_b64decode(wrapped + "=" * (-len(wrapped) % 4))
        except ValueError as exc:
            raise MediaStoreError("invalid storage key") from exc

    def put(self, sha256: str, data: bytes) -> str:
        """Encrypt data under a fresh data key; return the storage key that wraps it.

        Every call writes a new file with its own key (deduplication is the Item table's
        job), so erasing one row's key never affects another row's copy.
        """
        del sha256  # names are random: the content's hash does not show on disk
        name = secrets.token_hex(32)
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = secrets.token_bytes(NONCE_BYTES)
        blob = MAGIC2 + nonce + AESGCM(data_key).encrypt(nonce, data, name.encode())
        self._write(self._path(name), blob)
        wrapped = base64.urlsafe_b64encode(aes_key_wrap(self._master, data_key)).decode()
        return f"{KEY_PREFIX}{name}.{wrapped.rstrip('=')}"

    def get(self, key: str) -> bytes:
        """Decrypt and return a blob; MediaStoreError if missing, tampered or shredded."""
        name, wrapped = self._split(key)
        path = self._path(name)
        try:
            blob = path.read_bytes()
        except FileNotFoundError as exc:
            raise MediaStoreError("blob not found") from exc
        if wrapped is None:
            if not blob.startswith(MAGIC):
                raise MediaStoreError("unknown blob format")
            aead = self._aead
        else:
            if not blob.startswith(MAGIC2):
                raise MediaStoreError("unknown blob format")
            try:
                aead = AESGCM(aes_key_unwrap(self._master, wrapped))
            except (InvalidUnwrap, ValueError) as exc:
                raise MediaStoreError("the blob's key does not unwrap (wrong key)") from exc
        nonce = blob[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
        try:
            return aead.decrypt(nonce, blob[len(MAGIC) + NONCE_BYTES :], name.encode())
        except InvalidTag as exc:
            raise MediaStoreError("blob failed authentication (tampered or wrong key)") from exc

    def delete(self, key: str) -> None:
        """Remove a blob if present."""
        self._path(self._split(key)[0]).unlink(missing_ok=True)

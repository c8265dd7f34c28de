"""The one-item encrypted store: each image under its own random AES-256-GCM key.

The blob lives on disk; its key lives only with the request (in the database). Deleting the
key is enough to make the blob unreadable, wherever a backup of it lies (crypto-shredding);
the file is deleted too. Nothing is ever written in the clear.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"OHR1"  # version 1: magic | nonce | AES-256-GCM ciphertext+tag
NONCE_BYTES = 12
BLOB_ID_BYTES = 16


class OneItemStoreError(Exception):
    """A blob is missing, its id malformed, or it fails authentication (wrong key)."""


class OneItemStore:
    """Encrypted files named by random ids, each readable only with its own key."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, blob_id: str) -> Path:
        if len(blob_id) != 2 * BLOB_ID_BYTES or any(c not in "0123456789abcdef" for c in blob_id):
            raise OneItemStoreError("invalid blob id")
        return self.root / blob_id

    def put(self, data: bytes) -> tuple[str, str]:
        """Encrypt data under a fresh key; return (blob id, base64 key). The key is not kept."""
        key = AESGCM.generate_key(bit_length=256)
        blob_id = secrets.token_hex(BLOB_ID_BYTES)
        nonce = secrets.token_bytes(NONCE_BYTES)
        blob = MAGIC + nonce + AESGCM(key).encrypt(nonce, data, blob_id.encode())
        self.root.mkdir(parents=True, exist_ok=True)
        path = self._path(blob_id)
        tmp = path.with_name(f".{blob_id}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
        return blob_id, base64.b64encode(key).decode()

    def get(self, blob_id: str, key_b64: str) -> bytes:
        """Decrypt a blob with its key."""
        try:
            blob = self._path(blob_id).read_bytes()
        except FileNotFoundError as exc:
            raise OneItemStoreError("blob not found") from exc
        if not blob.startswith(MAGIC):
            raise OneItemStoreError("unknown blob format")
        try:
            key = base64.b64decode(key_b64, validate=True)
            nonce = blob[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
            return AESGCM(key).decrypt(nonce, blob[len(MAGIC) + NONCE_BYTES :], blob_id.encode())
        except (InvalidTag, ValueError) as exc:
            raise OneItemStoreError("blob failed authentication (wrong key)") from exc

    def exists(self, blob_id: str) -> bool:
        """True while the blob's file is on disk."""
        return self._path(blob_id).exists()

    def delete(self, blob_id: str) -> None:
        """Delete a blob's file (absent files are ignored)."""
        self._path(blob_id).unlink(missing_ok=True)

    def blob_ids(self) -> list[str]:
        """Every blob on disk (the purge removes those no request holds a key for)."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_file() and len(p.name) == 2 * BLOB_ID_BYTES and not p.name.startswith(".")
        )

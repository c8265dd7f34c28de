"""Key files: created once, atomically, and never readable half-written.

A key is written to a private temporary file, flushed to disk (fsync), then linked into
place with os.link, which fails if the name exists: two processes or threads racing to
create the same key both end up reading the one that won, and a crash leaves either no
key or a whole one.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
from pathlib import Path


class KeyFileError(Exception):
    """A key file exists but does not hold a valid key."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_once(path: Path, data: bytes) -> bool:
    """Create path holding data (mode 0600) unless it exists; True when this call created it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        _fsync_dir(path.parent)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def decode_aes_key(text: str, where: str) -> bytes:
    """Decode a base64 256-bit key, naming where it came from in the error."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except ValueError as exc:
        raise KeyFileError(f"{where} is not base64") from exc
    if len(key) != 32:
        raise KeyFileError(f"{where} must be base64 of 32 bytes (got {len(key)})")
    return key


def load_or_create_aes_key(path: Path) -> bytes:
    """Return the 256-bit key stored in path, creating it on first use (race-safe)."""
    if not path.exists():
        write_once(path, base64.b64encode(secrets.token_bytes(32)))
    return decode_aes_key(path.read_text(), str(path))


def aes_key(configured: str, env_name: str, path: Path) -> bytes:
    """The key from its setting (base64) when given, else the data directory's key file."""
    if configured:
        return decode_aes_key(configured, env_name)
    return load_or_create_aes_key(path)

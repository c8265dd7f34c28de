"""The hotline's Ed25519 signing key: create, load, rotate, sign, verify.

The private key lives in `<data_dir>/keys/signing.key` (base64 of the 32-byte seed, mode
0600). Rotation keeps the old key beside it (`signing.key.<timestamp>`) so that files signed
before stay verifiable with the old public key. Signatures are detached and travel as
base64 text; public keys as base64 of the 32 raw bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from nacl import bindings as sodium

from openhotline.errors import RejectedError

KEY_FILE = "signing.key"


class SignatureError(RejectedError):
    """A signature or key is malformed, or the signature does not match."""


@dataclass(frozen=True)
class SigningKey:
    """A loaded private key with its public half in the exchange formats."""

    private: Ed25519PrivateKey

    @property
    def public_bytes(self) -> bytes:
        """The 32 raw bytes of the public key."""
        return self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def public_b64(self) -> str:
        """The public key as base64 text (what partners configure)."""
        return base64.b64encode(self.public_bytes).decode()

    @property
    def key_id(self) -> str:
        """A short fingerprint of the public key (first 16 hex of its SHA-256)."""
        return hashlib.sha256(self.public_bytes).hexdigest()[:16]

    def public_pem(self) -> str:
        """The public key as PEM (for `openssl pkeyutl -verify`)."""
        return (
            self.private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def sign(self, data: bytes) -> str:
        """Return the base64 Ed25519 signature of data."""
        return base64.b64encode(self.private.sign(data)).decode()

    def sign_file(self, path: Path) -> str:
        """Return the base64 Ed25519 signature of a file's bytes, read in chunks.

        The very signature `sign(path.read_bytes())` gives (Ed25519 is deterministic, and
        this is RFC 8032's algorithm), so every existing verifier accepts it; a large list
        file is never held in memory.
        """
        return base64.b64encode(_sign_chunks(self.private, lambda: _chunks(path))).decode()


_CHUNK = 1 << 20


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            yield chunk


def _sha512(*parts: bytes, rest: Iterable[bytes] = ()) -> bytes:
    h = hashlib.sha512()
    for part in parts:
        h.update(part)
    for chunk in rest:
        h.update(chunk)
    return h.digest()


def _sign_chunks(private: Ed25519PrivateKey, message: Callable[[], Iterable[bytes]]) -> bytes:
    """RFC 8032 section 5.1.6 over a message read twice; curve arithmetic is libsodium's.

    `cryptography` only signs one in-memory buffer; pure Ed25519 hashes the message twice
    (for the nonce, then for the challenge), which streaming allows. The tests check the
    result equals cryptography's signature byte for byte.
    """
    seed = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    h = hashlib.sha512(seed).digest()
    scalar = bytearray(h[:32])
    scalar[0] &= 248
    scalar[31] &= 127
    scalar[31] |= 64
    r = sodium.crypto_core_ed25519_scalar_reduce(_sha512(h[32:], rest=message()))
    big_r = sodium.crypto_scalarmult_ed25519_base_noclamp(r)
    k = sodium.crypto_core_ed25519_scalar_reduce(_sha512(big_r, public, rest=message()))
    s = sodium.crypto_core_ed25519_scalar_add(
        r, sodium.crypto_core_ed25519_scalar_mul(k, bytes(scalar))
    )
    return bytes(big_r + s)


def key_path(data_dir: Path) -> Path:
    """Where the signing key of a data directory lives."""
    return data_dir / "keys" / KEY_FILE


def _write_new(path: Path) -> SigningKey:
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(seed).decode())
    return SigningKey(key)


def load_key(path: Path) -> SigningKey:
    """Load a signing key file; raise SignatureError if it is not a 32-byte seed."""
    try:
        seed = base64.b64decode(path.read_text().strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(f"{path}: not base64") from exc
    if len(seed) != 32:
        raise SignatureError(f"{path}: an Ed25519 key is 32 bytes, found {len(seed)}")
    return SigningKey(Ed25519PrivateKey.from_private_bytes(seed))


def load_or_create(data_dir: Path) -> SigningKey:
    """Return the data directory's signing key, generating it on first use."""
    path = key_path(data_dir)
    if path.exists():
        return load_key(path)
    try:
        return _write_new(path)
    except FileExistsError:  # another process created it meanwhile
        return load_key(path)


def generate(data_dir: Path) -> SigningKey:
    """Create the signing key; refuse if one exists (use rotate)."""
    path = key_path(data_dir)
    if path.exists():
        raise SignatureError(f"{path} exists; use `openhotline keys rotate` to replace it")
    return _write_new(path)


def rotate(data_dir: Path, now: datetime) -> tuple[SigningKey, Path | None]:
    """Replace the signing key, keeping the old one as signing.key.<UTC timestamp of now>."""
    path = key_path(data_dir)
    archived: Path | None = None
    if path.exists():
        archived = path.with_name(f"{KEY_FILE}.{now.strftime('%Y%m%dT%H%M%S%fZ')}")
        path.rename(archived)
    return _write_new(path), archived


def parse_public_key(text: str) -> Ed25519PublicKey:
    """Parse a public key given as base64 of 32 raw bytes or as PEM."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode())
        except ValueError as exc:
            raise SignatureError("public key: not a valid PEM key") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise SignatureError("public key: not an Ed25519 key")
        return key
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("public key: neither PEM nor base64") from exc
    if len(raw) != 32:
        raise SignatureError(f"public key: an Ed25519 key is 32 bytes, found {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def verify(data: bytes, signature_b64: str, public_key: str | Ed25519PublicKey) -> None:
    """Raise SignatureError unless signature_b64 is a valid signature of data."""
    key = parse_public_key(public_key) if isinstance(public_key, str) else public_key
    try:
        sig = base64.b64decode(signature_b64.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("signature: not base64") from exc
    if len(sig) != 64:
        raise SignatureError(f"signature: an Ed25519 signature is 64 bytes, found {len(sig)}")
    try:
        key.verify(sig, data)
    except InvalidSignature as exc:
        raise SignatureError("signature does not match the data and key") from exc

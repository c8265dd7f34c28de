"""Per-item hashes: MD5, SHA-1, SHA-256 of the bytes; PDQ (+ quality, dihedral variants)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pdqhash

from openhotline.media.decode import Decoded, Limits, RGBArray, decode
from openhotline.media.pdqfast import pdq_from_rgb

# Fast path: images are decoded downscaled (JPEG DCT scaling, integer box reduce) to no less
# than this many pixels per side, and PDQ's full-resolution filter is emulated on them
# (media/pdqfast.py). bench/hash.py checks the hashes against full resolution.
FAST_MIN_SIDE = 256
WEAK_QUALITY = 50  # PDQ's own guidance: below 50 the hash says little about the image


@dataclass(frozen=True)
class CryptoHashes:
    """Digests of the exact bytes."""

    md5: str
    sha1: str
    sha256: str


@dataclass
class MediaHashes:
    """Everything the matcher needs to know about one image file."""

    md5: str
    sha1: str
    sha256: str
    pdq: str
    pdq_quality: int
    format: str
    width: int
    height: int
    frame_count: int = 1
    frame_pdqs: list[str] = field(default_factory=list)  # sampled animation frames
    frame_qualities: list[int] = field(default_factory=list)

    @property
    def weak(self) -> bool:
        """True when the PDQ hash is too weak to match on its own."""
        return self.pdq_quality < WEAK_QUALITY


def crypto_hashes(data: bytes) -> CryptoHashes:
    """MD5, SHA-1 and SHA-256 hex digests (MD5/SHA-1 only as identifiers, not for security)."""
    return CryptoHashes(
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        sha1=hashlib.sha1(data, usedforsecurity=False).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def bits_to_hex(bits: npt.NDArray[Any]) -> str:
    """Hex form of pdqhash's 256 0/1 values (most significant bit first)."""
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def pdq_of_array(rgb: RGBArray, full_size: tuple[int, int] | None = None) -> tuple[str, int]:
    """PDQ hash (hex) and quality of an RGB array; full_size=(w, h) if it was downscaled."""
    h, w = rgb.shape[:2]
    if full_size is not None and full_size != (w, h):
        bits, quality = pdq_from_rgb(rgb, full_size[0], full_size[1])
    else:
        bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return bits_to_hex(bits), int(quality)


def pdq_dihedral_of_array(rgb: RGBArray) -> tuple[list[str], int]:
    """The 8 dihedral PDQ hashes (identity first) and the quality, from one DCT."""
    hashes, quality = pdqhash.compute_dihedral(np.ascontiguousarray(rgb))
    return [bits_to_hex(h) for h in hashes], int(quality)


def hash_decoded(data: bytes, img: Decoded) -> MediaHashes:
    """Hashes of bytes already decoded (first frame for PDQ, other frames sampled)."""
    c = crypto_hashes(data)
    size = (img.width, img.height)
    pdq, quality = pdq_of_array(img.frames[0], size)
    frames = [pdq_of_array(f, size) for f in img.frames[1:]]
    return MediaHashes(
        md5=c.md5, sha1=c.sha1, sha256=c.sha256, pdq=pdq, pdq_quality=quality,
        format=img.format, width=img.width, height=img.height,
        frame_count=img.frame_count, frame_pdqs=[f[0] for f in frames],
        frame_qualities=[f[1] for f in frames],
    )  # fmt: skip


def hash_bytes(
    data: bytes, limits: Limits | None = None, fast: bool = True, frames: bool = True
) -> MediaHashes:
    """Decode safely and hash; raises a MediaError subclass for bad input."""
    img = decode(data, limits, min_side=FAST_MIN_SIDE if fast else None, all_frames=frames)
    return hash_decoded(data, img)


def hamming_hex(a: str, b: str) -> int:
    """Hamming distance between two 64-digit hex PDQ hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()

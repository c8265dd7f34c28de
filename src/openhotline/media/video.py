"""Video hashing with vPDQ (optional: `pip install openhotline[video]`, needs libav*)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from openhotline.media.decode import MediaError
from openhotline.media.hashing import crypto_hashes


class VideoUnavailableError(MediaError):
    """vpdq is not installed (the [video] extra and the libav* libraries are needed)."""

    code = "video_unavailable"


@dataclass(frozen=True)
class VideoFrame:
    """The PDQ hash of one sampled frame."""

    pdq: str
    quality: int
    frame_number: int
    timestamp: float


@dataclass
class VideoHashes:
    """A video's byte digests and its sampled frame hashes."""

    md5: str
    sha1: str
    sha256: str
    frames: list[VideoFrame] = field(default_factory=list)


def video_available() -> bool:
    """True if vpdq can be imported."""
    try:
        import vpdq  # noqa: F401
    except ImportError:
        return False
    return True


def hash_video(path: Path, seconds_per_hash: float = 1.0, max_bytes: int = 2**31) -> VideoHashes:
    """Hash a video file: MD5/SHA-1/SHA-256 of the bytes and vPDQ frame hashes."""
    try:
        import vpdq
    except ImportError as exc:
        raise VideoUnavailableError(
            "video hashing needs the [video] extra (vpdq and the libav* libraries)"
        ) from exc
    size = path.stat().st_size
    if size > max_bytes:
        raise MediaError(f"video is {size} bytes; the limit is {max_bytes}")
    if size < 1024 * 1024 * 64:
        c = crypto_hashes(path.read_bytes())
        md5, sha1, sha256 = c.md5, c.sha1, c.sha256
    else:  # stream large files
        hs = [hashlib.md5(usedforsecurity=False), hashlib.sha1(usedforsecurity=False),
              hashlib.sha256()]  # fmt: skip
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                for h in hs:
                    h.update(chunk)
        md5, sha1, sha256 = (h.hexdigest() for h in hs)
    try:
        features = vpdq.computeHash(str(path), seconds_per_hash=seconds_per_hash)
    except Exception as exc:  # vpdq raises plain errors for undecodable input
        raise MediaError(f"cannot decode video: {exc}") from exc
    if not features:
        raise MediaError("no decodable frames in this file")
    frames = [
        VideoFrame(f.hex, int(f.quality), int(f.frame_number), float(f.timestamp)) for f in features
    ]
    return VideoHashes(md5, sha1, sha256, frames)

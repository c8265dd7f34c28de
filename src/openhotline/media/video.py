"""Video hashing with vPDQ (optional: `pip install openhotline[video]`, needs libav*).

vPDQ hashes one frame per `seconds_per_hash` with PDQ. The frame hashes are kept in vPDQ's
own hash-file format (`frame_number,quality,pdq_hex,timestamp` per line), and read back from
it or from python-threatexchange's VPDQ signal serialisation (a JSON list of
`"pdq_hex,quality,timestamp"`). Decoded bytes are handed to libav through an anonymous
in-memory file (memfd) where the platform has one, so plaintext media never lands on disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import string
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openhotline.media.decode import MediaError
from openhotline.media.hashing import crypto_hashes

HEXDIGITS = frozenset(string.hexdigits)
MAX_VPDQ_FRAMES = 100_000  # no imported video holds more frame hashes than this
HOW_TO_ENABLE = (
    "install the system packages pkg-config and libavcodec-dev, libavformat-dev, "
    "libavutil-dev, libswscale-dev, libavdevice-dev, libavfilter-dev, then "
    "`pip install 'openhotline[video]'` (vpdq) and restart the server and worker"
)


class VideoUnavailableError(MediaError):
    """vpdq is not installed (the [video] extra and the libav* libraries are needed)."""

    code = "video_unavailable"


class VideoTooLongError(MediaError):
    """The video is longer than the configured limit: it is stored but not frame-hashed."""

    code = "too_large"


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
    truncated: bool = False  # more frames were hashed than max_frames; the first were kept
    # Query side only: per frame hash, PDQs of guesses that undo a crop or a small rotation
    # of that frame (media/robust.py), so a cropped copy can still match its bank video.
    guesses: dict[str, list[str]] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        """Seconds covered by the kept frame hashes."""
        return self.frames[-1].timestamp if self.frames else 0.0


@dataclass(frozen=True)
class VideoLimits:
    """Bounds of one video's hashing: rate, how many frame hashes, how long a video."""

    seconds_per_hash: float = 1.0
    max_frames: int = 900
    max_seconds: float = 3600.0
    max_bytes: int = 2**31
    guesses: bool = True  # compute crop/rotation guesses for matching (query side)


def video_available() -> bool:
    """True if vpdq can be imported."""
    try:
        import vpdq  # noqa: F401
    except ImportError:
        return False
    return True


def video_status() -> str:
    """One line saying whether video matching is on here, and how to turn it on if not."""
    if video_available():
        return "video matching is on (vpdq installed)"
    return f"video matching is off: vpdq is not installed; to turn it on, {HOW_TO_ENABLE}"


@contextlib.contextmanager
def bytes_as_path(data: bytes) -> Iterator[Path]:
    """A path libav can open holding these bytes: a memfd (in memory), else a private temp file."""
    memfd = getattr(os, "memfd_create", None)
    if memfd is not None:
        fd = memfd("openhotline-video", getattr(os, "MFD_CLOEXEC", 0))
        try:
            _write_all(fd, data)
            yield Path(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="openhotline-video-") as tmp:  # pragma: no cover
        path = Path(tmp) / "video"
        path.write_bytes(data)
        yield path


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def probe_seconds(path: Path) -> float | None:
    """The video's duration from its container (OpenCV's bundled FFmpeg), None if unknown."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return None
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = float(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0)
    finally:
        cap.release()
    if fps <= 0 or count <= 0:
        return None
    return count / fps


def _digests(path: Path, size: int) -> tuple[str, str, str]:
    if size < 1024 * 1024 * 64:
        c = crypto_hashes(path.read_bytes())
        return c.md5, c.sha1, c.sha256
    hs = [hashlib.md5(usedforsecurity=False), hashlib.sha1(usedforsecurity=False),
          hashlib.sha256()]  # fmt: skip
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            for h in hs:
                h.update(chunk)
    md5, sha1, sha256 = (h.hexdigest() for h in hs)
    return md5, sha1, sha256


def hash_video(
    path: Path,
    seconds_per_hash: float = 1.0,
    max_bytes: int = 2**31,
    limits: VideoLimits | None = None,
) -> VideoHashes:
    """Hash a video file: MD5/SHA-1/SHA-256 of the bytes and vPDQ frame hashes (bounded)."""
    limits = limits or VideoLimits(seconds_per_hash=seconds_per_hash, max_bytes=max_bytes)
    try:
        import vpdq
    except ImportError as exc:
        raise VideoUnavailableError(
            "video hashing needs the [video] extra (vpdq and the libav* libraries)"
        ) from exc
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise MediaError(f"video is {size} bytes; the limit is {limits.max_bytes}")
    md5, sha1, sha256 = _digests(path, size)
    seconds = probe_seconds(path)
    if seconds is not None and seconds > limits.max_seconds:
        raise VideoTooLongError(
            f"video lasts {seconds:.0f} s; frame hashing stops at {limits.max_seconds:.0f} s"
        )
    try:
        features = vpdq.computeHash(str(path), seconds_per_hash=limits.seconds_per_hash)
    except Exception as exc:  # vpdq raises plain errors for undecodable input
        raise MediaError(f"cannot decode video: {exc}") from exc
    if not features:
        raise MediaError("no decodable frames in this file")
    frames = [
        VideoFrame(f.hex, int(f.quality), int(f.frame_number), float(f.timestamp)) for f in features
    ]
    truncated = len(frames) > limits.max_frames
    kept = frames[: limits.max_frames]
    guesses = frame_guesses(path, kept) if limits.guesses else {}
    return VideoHashes(md5, sha1, sha256, kept, truncated, guesses)


GUESS_MIN_QUALITY = 50  # as vPDQ: weaker frames are not matched, so need no guesses
GUESS_SIDE = 256  # frames are reduced to this shorter side first (PDQ's fast path emulates)


def frame_guesses(path: Path, frames: list[VideoFrame]) -> dict[str, list[str]]:
    """PDQs of crop/rotation guesses of the sampled frames (decoded again with OpenCV)."""
    import cv2
    import numpy as np

    from openhotline.media.robust import geometric_candidates

    wanted: dict[int, str] = {
        f.frame_number: f.pdq for f in frames if f.quality >= GUESS_MIN_QUALITY
    }
    out: dict[str, list[str]] = {}
    if not wanted:
        return out
    last = max(wanted)
    cap = cv2.VideoCapture(str(path))
    try:
        index = 0
        while index <= last and cap.grab():
            pdq = wanted.get(index)
            index += 1
            if pdq is None or pdq in out:
                continue
            ok, bgr = cap.retrieve()
            if not ok:
                continue
            h, w = bgr.shape[:2]
            scale = min(1.0, GUESS_SIDE / max(1, min(h, w)))
            if scale < 1.0:
                size = (round(w * scale), round(h * scale))
                bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
            rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
            out[pdq] = [c.pdq for c in geometric_candidates(rgb, (w, h))]
    finally:
        cap.release()
    return out


def hash_video_bytes(data: bytes, limits: VideoLimits | None = None) -> VideoHashes:
    """hash_video for bytes in memory (a captured or uploaded file)."""
    limits = limits or VideoLimits()
    if not video_available():
        raise VideoUnavailableError("video matching is off: vpdq is not installed")
    with bytes_as_path(data) as path:
        return hash_video(path, limits=limits)


def format_vpdq(frames: list[VideoFrame]) -> str:
    """Frames in vPDQ's hash-file format: `frame_number,quality,pdq_hex,timestamp` lines."""
    return "".join(f"{f.frame_number},{f.quality},{f.pdq},{f.timestamp:.3f}\n" for f in frames)


def format_te_json(frames: list[VideoFrame]) -> str:
    """Frames as python-threatexchange's VPDQ signal string (JSON list of "hex,q,ts")."""
    return json.dumps([f"{f.pdq},{f.quality},{f.timestamp:.3f}" for f in frames])


def _frame(pdq: str, quality: str, number: int, timestamp: str, where: str) -> VideoFrame:
    h = pdq.strip().lower()
    if len(h) != 64 or not all(c in HEXDIGITS for c in h):
        raise ValueError(f"{where}: the frame hash must be 64 hex digits")
    try:
        q, ts = int(quality), float(timestamp)
    except ValueError:
        raise ValueError(f"{where}: quality must be an integer and timestamp a number") from None
    if not 0 <= q <= 100:
        raise ValueError(f"{where}: quality must be between 0 and 100")
    if not ts >= 0 or ts == float("inf"):
        raise ValueError(f"{where}: timestamp must be a number of seconds >= 0")
    return VideoFrame(h, q, number, ts)


def parse_vpdq(text: str) -> list[VideoFrame]:
    """Frames from vPDQ's hash-file lines or threatexchange's JSON list; ValueError if bad."""
    body = text.strip().lstrip("\ufeff")
    if not body:
        raise ValueError("no frame hashes given")
    frames: list[VideoFrame] = []
    if body.startswith("["):
        try:
            items: Any = json.loads(body)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a JSON list of frame hashes: {exc.msg}") from None
        if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
            raise ValueError('expected a JSON list of "pdq_hex,quality,timestamp" strings')
        if len(items) > MAX_VPDQ_FRAMES:
            raise ValueError(f"more than {MAX_VPDQ_FRAMES} frame hashes")
        for i, s in enumerate(items):
            parts = s.split(",")
            if len(parts) != 3:
                raise ValueError(f'frame {i + 1}: expected "pdq_hex,quality,timestamp"')
            frames.append(_frame(parts[0], parts[1], i, parts[2], f"frame {i + 1}"))
    else:
        for no, line in enumerate(body.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.strip().split(",")
            if len(parts) != 4:
                raise ValueError(f"line {no}: expected 'frame_number,quality,pdq_hex,timestamp'")
            try:
                number = int(parts[0])
            except ValueError:
                raise ValueError(f"line {no}: the frame number must be an integer") from None
            frames.append(_frame(parts[2], parts[1], number, parts[3], f"line {no}"))
            if len(frames) > MAX_VPDQ_FRAMES:
                raise ValueError(f"more than {MAX_VPDQ_FRAMES} frame hashes")
    if not frames:
        raise ValueError("no frame hashes given")
    return frames


def vpdq_digest(frames: list[VideoFrame]) -> str:
    """SHA-256 of a video's canonical frame list: a bank entry's identity."""
    return hashlib.sha256(format_vpdq(frames).encode()).hexdigest()

"""Safe image decoding: format allow-list, byte/pixel limits, EXIF orientation, frames."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

# Truncated files are refused, never silently padded with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False

try:  # HEIC/HEIF support is optional (pillow-heif ships wheels for common platforms).
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_AVAILABLE = True
except ImportError:  # pragma: no cover - depends on the platform
    HEIF_AVAILABLE = False

ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "MPO"}) | (
    frozenset({"HEIF"}) if HEIF_AVAILABLE else frozenset()
)
ANIMATED_FORMATS = frozenset({"GIF", "WEBP"})
Image.init()  # register every plugin now, so the allow-list below is checked against them
OPEN_FORMATS = sorted(f for f in ALLOWED_FORMATS if f in Image.OPEN)

RGBArray = npt.NDArray[np.uint8]


class MediaError(Exception):
    """An image that cannot be hashed; `code` is a stable machine-readable reason."""

    code = "media_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedFormatError(MediaError):
    """The bytes are not an image of an allowed format."""

    code = "unsupported_format"


class TooLargeError(MediaError):
    """The file or its pixel count is over the limits (decompression bombs included)."""

    code = "too_large"


class CorruptImageError(MediaError):
    """The image is truncated or damaged."""

    code = "corrupt"


@dataclass(frozen=True)
class Limits:
    """Decoding limits; the defaults suit photos up to 100 megapixels."""

    max_bytes: int = 64 * 1024 * 1024
    max_pixels: int = 100_000_000
    max_frames: int = 8  # frames sampled from an animation (the first one always)


@dataclass
class Decoded:
    """A decoded image: RGB frames (first frame first) and what the file said about itself."""

    format: str
    width: int  # full-resolution size after EXIF orientation
    height: int
    frame_count: int
    frames: list[RGBArray] = field(default_factory=list)


def _reduced(img: Image.Image, min_side: int | None) -> Image.Image:
    """Integer box downscale keeping both sides >= min_side (no-op if already small)."""
    if min_side is None:
        return img
    factor = min(img.size) // min_side
    return img.reduce(factor) if factor >= 2 else img


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = float(arr.max()) or 1.0
        return Image.fromarray((arr * (255.0 / top)).astype(np.uint8)).convert("RGB")
    return img.convert("RGB")


def decode(
    data: bytes,
    limits: Limits | None = None,
    min_side: int | None = None,
    all_frames: bool = False,
) -> Decoded:
    """Decode image bytes safely; min_side enables the fast path (JPEG draft + reduce).

    With min_side the frames may be smaller than width x height, but never below min_side
    on either side (unless the image itself is smaller).
    """
    limits = limits or Limits()
    if len(data) == 0:
        raise CorruptImageError("empty file")
    if len(data) > limits.max_bytes:
        raise TooLargeError(f"file is {len(data)} bytes; the limit is {limits.max_bytes}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return _decode(data, limits, min_side, all_frames)
    except MediaError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooLargeError(f"decompression bomb refused: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise UnsupportedFormatError("not a recognised image file") from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        raise CorruptImageError(f"damaged or truncated image: {exc}") from exc
    except MemoryError as exc:
        raise TooLargeError("image too large to decode") from exc


def _decode(data: bytes, limits: Limits, min_side: int | None, all_frames: bool) -> Decoded:
    img = Image.open(io.BytesIO(data), formats=OPEN_FORMATS)
    fmt = (img.format or "").upper()
    if fmt not in ALLOWED_FORMATS:
        raise UnsupportedFormatError(f"format {fmt or 'unknown'} is not accepted")
    w, h = img.size
    if w <= 0 or h <= 0:
        raise CorruptImageError("image has no pixels")
    if w * h > limits.max_pixels:
        raise TooLargeError(f"image is {w}x{h} pixels; the limit is {limits.max_pixels} pixels")
    frame_count = int(getattr(img, "n_frames", 1) or 1)
    orientation = img.getexif().get(0x0112, 1)
    full_w, full_h = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    if fmt == "JPEG" and min_side is not None:
        # DCT-domain downscaling: decodes at 1/2, 1/4 or 1/8 size, both sides >= min_side.
        img.draft("RGB", (min_side, min_side))
    indices = [0]
    if all_frames and fmt in ANIMATED_FORMATS and frame_count > 1:
        picks = np.linspace(0, frame_count - 1, min(frame_count, limits.max_frames))
        indices = sorted({round(float(x)) for x in picks})
    frames: list[RGBArray] = []
    for k in indices:
        if k:
            img.seek(k)
        frame = img.copy() if len(indices) > 1 else img
        frame.load()
        frame = ImageOps.exif_transpose(frame) if orientation != 1 else frame
        frame = _to_rgb(_reduced(frame, min_side))
        frames.append(np.asarray(frame, dtype=np.uint8))
    return Decoded(format=fmt, width=full_w, height=full_h, frame_count=frame_count, frames=frames)

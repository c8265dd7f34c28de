"""Console previews rendered in memory from decrypted bytes: blurred and greyscale by default.

Nothing is written to disk: the decrypted bytes and the rendered preview live only in memory.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageDraw, ImageFilter, UnidentifiedImageError

MAX_SIDE = 512
MAX_SOURCE_PIXELS = 64_000_000  # refuse decompression bombs before decoding
BLUR_FRACTION = 0.06  # blur radius as a fraction of the preview's longer side


class PreviewError(ValueError):
    """The bytes cannot be shown as an image preview."""


def render_preview(data: bytes, *, blurred: bool = True, max_side: int = MAX_SIDE) -> bytes:
    """Return a JPEG preview: downscaled; greyscale and heavily blurred unless revealed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            source = Image.open(io.BytesIO(data))
            width, height = source.size
            if width * height > MAX_SOURCE_PIXELS:
                raise PreviewError(f"image too large to preview ({width}x{height})")
            source.draft("RGB", (max_side, max_side))
            img: Image.Image = source.convert("RGB")
    except (UnidentifiedImageError, OSError, EOFError, Image.DecompressionBombError) as exc:
        raise PreviewError(f"not a previewable image: {exc}") from exc
    except Image.DecompressionBombWarning as exc:
        raise PreviewError("image too large to preview") from exc
    img.thumbnail((max_side, max_side))
    if blurred:
        radius = max(6.0, max(img.size) * BLUR_FRACTION)
        img = img.convert("L").filter(ImageFilter.GaussianBlur(radius)).convert("RGB")
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=80)
    return out.getvalue()


def placeholder(text: str = "no preview", size: int = 256) -> bytes:
    """Return a neutral grey JPEG saying there is nothing to show."""
    img = Image.new("RGB", (size, size), (90, 90, 90))
    ImageDraw.Draw(img).text((12, size // 2 - 6), text[:40], fill=(230, 230, 230))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=80)
    return out.getvalue()

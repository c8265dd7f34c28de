"""Drop icons, tracking pixels and tiny images before they become items (no DB).

A page's logos and 1x1 beacons are not evidence: graded one by one they kept every case
waiting. What is dropped is counted (a case event), never stored.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image

from openhotline.capture.crawler import CapturedMedia


@dataclass(frozen=True)
class MediaFilter:
    """The minimum size of a captured file that becomes an item (from settings)."""

    min_side: int = 48  # pixels: an image whose shorter side is smaller is an icon or beacon
    min_bytes: int = 512  # bytes: smaller files are beacons, spacers or placeholders


@dataclass
class Filtered:
    """What passed, and how many were dropped for each reason."""

    kept: list[CapturedMedia]
    too_small_pixels: int = 0
    too_small_bytes: int = 0

    @property
    def dropped(self) -> int:
        """How many files were dropped in all."""
        return self.too_small_pixels + self.too_small_bytes

    def describe(self) -> str:
        """One line for the case event."""
        return (
            f"{self.dropped} icon(s) or tiny image(s) not stored: "
            f"{self.too_small_pixels} under the pixel minimum, "
            f"{self.too_small_bytes} under the byte minimum"
        )


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the image header (nothing decoded), or None when unreadable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                return img.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def filter_media(media: list[CapturedMedia], rules: MediaFilter) -> Filtered:
    """Keep media at or above both minimums; unreadable images are kept (the pipeline decides)."""
    out = Filtered(kept=[])
    for m in media:
        if len(m.body) < rules.min_bytes:
            out.too_small_bytes += 1
            continue
        if m.media_type.startswith("image/"):
            size = image_size(m.body)
            if size is not None and min(size) < rules.min_side:
                out.too_small_pixels += 1
                continue
        out.kept.append(m)
    return out

"""Previews are rendered in memory: greyscale and blurred unless revealed."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageFilter, ImageStat

from openhotline.media.preview import PreviewError, placeholder, render_preview
from tests.console_fixtures import png_bytes


def _open(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def test_blurred_preview_is_grey_and_smooth() -> None:
    source = png_bytes(7, size=600)
    blurred = _open(render_preview(source, blurred=True))
    clear = _open(render_preview(source, blurred=False))
    assert max(blurred.size) <= 512 and blurred.size == clear.size
    r, _g, b = blurred.split()
    assert ImageStat.Stat(r).mean == pytest.approx(ImageStat.Stat(b).mean, abs=1.5)
    # Blurring removes detail: far less edge energy than the clear preview.
    edges = [_edge_energy(img) for img in (blurred, clear)]
    assert edges[0] * 3 < edges[1]


def _edge_energy(img: Image.Image) -> float:
    return float(ImageStat.Stat(img.convert("L").filter(ImageFilter.FIND_EDGES)).mean[0])


@pytest.mark.parametrize("data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\0" * 20])
def test_bad_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(PreviewError):
        render_preview(data)


def test_decompression_bomb_refused() -> None:
    img = Image.new("1", (10_000, 10_000))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    with pytest.raises(PreviewError, match="too large"):
        render_preview(buf.getvalue())


def test_placeholder_is_an_image() -> None:
    assert _open(placeholder("x")).size == (256, 256)

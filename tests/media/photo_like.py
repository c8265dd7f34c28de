"""Generated photo-like pictures for region and feature tests (never real material)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw


def photo(w: int = 480, h: int = 360, seed: int = 0, low: int = 0, high: int = 255) -> Image.Image:
    """Multi-scale coloured noise with shapes: texture and corners like a photograph."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), dtype=np.float32)
    for s in (2, 3, 5, 8, 13, 21, 34, 55):
        small = Image.fromarray((rng.random((s, s, 3)) * 255).astype(np.uint8))
        img += np.asarray(small.resize((w, h), Image.Resampling.BICUBIC), np.float32) / s**0.5
    img = (img - img.min()) / (np.ptp(img) + 1e-6) * (high - low) + low
    pil = Image.fromarray(img.astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(10, w // 3)), y0 + int(rng.integers(10, h // 3))
        colour = tuple(int(c) for c in rng.integers(low, high + 1, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x0, y0, x1, y1], fill=colour)
    return pil


def screenshot(img: Image.Image) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """The picture inside a window with title bar, address bar, text sidebar and caption.

    Returns the screenshot and the picture's box (top, bottom, left, right).
    """
    cw = round(img.width / 0.7)
    ch = 30 + 40 + img.height + 80
    out = Image.new("RGB", (cw, ch), (255, 255, 255))
    d = ImageDraw.Draw(out)
    d.rectangle([0, 0, cw, 30], fill=(210, 210, 215))
    d.rectangle([0, 30, cw, 70], fill=(242, 242, 242))
    d.rounded_rectangle([60, 36, cw - 120, 64], radius=6, fill=(255, 255, 255), outline=(150,) * 3)
    d.text((70, 42), "https://forum.example.test/thread/1", fill=(30, 30, 30))
    side = cw - img.width - 30
    d.rectangle([0, 70, side, ch], fill=(242, 242, 242))
    for k in range(10):
        d.text((10, 90 + 24 * k), f"Topic {k + 1}: holidays", fill=(30, 30, 30))
    left, top = side + 15, 80
    out.paste(img, (left, top))
    d.text((left, top + img.height + 20), "Posted by user123 - look at this view!", fill=(0, 0, 0))
    return out, (top, top + img.height, left, left + img.width)


def collage(cells: list[Image.Image], gutter: int = 6) -> Image.Image:
    """A 2x2 grid of the four pictures, white gutters."""
    cw, ch = cells[0].size
    out = Image.new("RGB", (2 * cw + 3 * gutter, 2 * ch + 3 * gutter), (255, 255, 255))
    for k, c in enumerate(cells):
        out.paste(
            c.resize((cw, ch)),
            (gutter + (k % 2) * (cw + gutter), gutter + (k // 2) * (ch + gutter)),
        )
    return out


def jpeg(img: Image.Image, quality: int = 90) -> bytes:
    """JPEG bytes of a picture."""
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()

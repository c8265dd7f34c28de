"""Generated series images: a per-series scene of shapes, gradients and noise, and its
crops, re-encodes and rescales (near-duplicates); never anything resembling people."""

from __future__ import annotations

import io
import random

import numpy as np
from PIL import Image, ImageDraw


def scene(seed: int, size: tuple[int, int] = (480, 360)) -> Image.Image:
    """The series' base picture: a gradient with seeded shapes and fine noise."""
    rng = random.Random(seed)
    w, h = size
    x = np.linspace(0, 1, w)[None, :, None]
    y = np.linspace(0, 1, h)[:, None, None]
    base = np.concatenate(
        [(x * 200 + 30) * np.ones((h, 1, 1)), (y * 180 + 40) * np.ones((1, w, 1)),
         ((x + y) * 90 + 20)], axis=2,
    )  # fmt: skip
    img = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randrange(10, 120), y0 + rng.randrange(10, 120)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        shape = rng.random()
        if shape < 0.4:
            draw.rectangle([x0, y0, x1, y1], fill=colour, outline=(0, 0, 0))
        elif shape < 0.8:
            draw.ellipse([x0, y0, x1, y1], fill=colour, outline=(255, 255, 255))
        else:
            draw.line([(x0, y0), (x1, y1)], fill=colour, width=rng.randrange(2, 8))
    noise = np.random.default_rng(seed).integers(-12, 12, (h, w, 3))
    arr = (np.asarray(img, np.int16) + noise).clip(0, 255).astype(np.uint8)
    return Image.fromarray(arr)


def encode(img: Image.Image, fmt: str = "PNG", quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, quality=quality) if fmt == "JPEG" else img.save(buf, fmt)
    return buf.getvalue()


def variant(seed: int, n: int) -> bytes:
    """The n-th member of series `seed`: n = 0 is the scene; others crop, re-encode, rescale."""
    img = scene(seed)
    if n == 0:
        return encode(img)
    rng = random.Random(seed * 1000 + n)
    w, h = img.size
    kind = n % 4
    if kind in (1, 3):  # crop up to 10% off each side
        left, top = int(w * rng.uniform(0, 0.1)), int(h * rng.uniform(0, 0.1))
        right, bottom = w - int(w * rng.uniform(0, 0.1)), h - int(h * rng.uniform(0, 0.1))
        img = img.crop((left, top, right, bottom))
    if kind in (2, 3):  # rescale
        f = rng.uniform(0.7, 0.95)
        img = img.resize((int(img.width * f), int(img.height * f)))
    if kind == 0:  # brightness shift
        arr = np.asarray(img, np.int16) + rng.randrange(-20, 20)
        img = Image.fromarray(arr.clip(0, 255).astype(np.uint8))
    return encode(img, "JPEG", quality=rng.randrange(55, 95))

"""Safe decoding and hashing on generated images (never real material)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pdqhash
import pytest
from PIL import Image, ImageOps

from openhotline.media.decode import (
    CorruptImageError,
    Limits,
    TooLargeError,
    UnsupportedFormatError,
    decode,
)
from openhotline.media.hashing import hamming_hex, hash_bytes, pdq_dihedral_of_array
from openhotline.media.pdqfast import DIHEDRAL_NAMES, dihedral_pdq, pdq_from_rgb
from openhotline.media.robust import candidates, trim_box


def scene(w: int = 640, h: int = 480, seed: int = 0) -> Image.Image:
    """A smooth synthetic picture: gradients, discs and bars (PDQ quality 100)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), dtype=np.float32)
    for c in range(3):
        fx, fy, ph = rng.uniform(1, 6), rng.uniform(1, 6), rng.uniform(0, 6)
        img[..., c] = 127 + 80 * np.sin(fx * x / w * 6.28 + ph) * np.cos(fy * y / h * 6.28)
    for _ in range(6):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(20, 120)
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.uniform(0, 255, 3)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def encode(img: Image.Image, fmt: str = "JPEG", **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_hashes_of_a_jpeg() -> None:
    data = encode(scene(), quality=92)
    h = hash_bytes(data)
    assert len(h.md5) == 32 and len(h.sha1) == 40 and len(h.sha256) == 64 and len(h.pdq) == 64
    assert (h.format, h.width, h.height, h.weak) == ("JPEG", 640, 480, False)
    assert h.pdq_quality >= 50


@pytest.mark.parametrize("size", [(1024, 768), (2400, 1600), (4000, 3000)])
def test_fast_path_stays_close_to_full_resolution(size: tuple[int, int]) -> None:
    dists = []
    for seed in range(4):
        data = encode(scene(*size, seed=seed), quality=90)
        dists.append(hamming_hex(hash_bytes(data).pdq, hash_bytes(data, fast=False).pdq))
    assert np.mean(dists) <= 6, dists


def test_numpy_pdq_equals_pdqhash_at_full_resolution() -> None:
    rgb = np.asarray(scene(700, 500, seed=3))
    ref, q_ref = pdqhash.compute(rgb)
    bits, q = pdq_from_rgb(rgb, 700, 500)
    assert (ref == bits).all() and q == q_ref
    # pdqhash's own dihedral hashes flip DCT signs (approximate); ours transform exactly.
    refs, _ = pdq_dihedral_of_array(rgb)
    assert np.packbits(dihedral_pdq(rgb, 700, 500)[0][0]).tobytes().hex() == refs[0]
    variants = dict(zip(DIHEDRAL_NAMES, dihedral_pdq(rgb, 700, 500), strict=True))
    for name, img in [
        ("flip_h", rgb[:, ::-1]),
        ("flip_v", rgb[::-1]),
        ("rot90ccw", np.rot90(rgb)),
        ("rot90cw", np.rot90(rgb, -1)),
        ("rot180", rgb[::-1, ::-1]),
        ("transpose", rgb.transpose(1, 0, 2)),
    ]:
        ref, _ = pdqhash.compute(np.ascontiguousarray(img))
        assert (ref == variants[name][0]).all(), name


def test_exif_orientation_is_applied() -> None:
    img = scene(300, 200)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    rotated_on_disk = encode(img.transpose(Image.Transpose.ROTATE_90), exif=exif.tobytes())
    d = decode(rotated_on_disk)
    assert (d.width, d.height) == (300, 200)
    assert d.frames[0].shape[:2] == (200, 300)
    plain = hash_bytes(encode(img)).pdq
    assert hamming_hex(hash_bytes(rotated_on_disk).pdq, plain) <= 8


def test_animated_gif_frames_are_sampled() -> None:
    frames = [scene(120, 90, seed=s).convert("P") for s in range(12)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    h = hash_bytes(buf.getvalue())
    assert h.frame_count == 12
    assert 1 <= len(h.frame_pdqs) <= Limits().max_frames - 1
    assert len(set(h.frame_pdqs)) == len(h.frame_pdqs)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", CorruptImageError),
        (b"hello, not an image", UnsupportedFormatError),
        (b"%PDF-1.4\n%...", UnsupportedFormatError),
        (encode(scene(), "JPEG")[:3000], CorruptImageError),
        (encode(scene(), "PNG")[:2000], CorruptImageError),
        (encode(scene(64, 64), "PPM"), UnsupportedFormatError),  # decodable, not allowed
    ],
)
def test_bad_files_raise_typed_errors(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        hash_bytes(data)


def _png_header_only(w: int, h: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_decompression_bombs_and_limits_are_refused() -> None:
    with pytest.raises(TooLargeError, match=r"pixels|bomb"):
        hash_bytes(_png_header_only(60000, 60000))
    with pytest.raises(TooLargeError, match="limit"):
        hash_bytes(encode(scene(200, 200)), limits=Limits(max_pixels=10_000))
    with pytest.raises(TooLargeError, match="bytes"):
        hash_bytes(encode(scene(200, 200)), limits=Limits(max_bytes=100))


def test_formats_on_the_allow_list_decode() -> None:
    img = scene(200, 150)
    for fmt in ("PNG", "GIF", "WEBP", "BMP", "TIFF"):
        h = hash_bytes(encode(img, fmt))
        assert h.format == fmt
    rgba = img.convert("RGBA")
    assert hash_bytes(encode(rgba, "PNG")).format == "PNG"
    assert hash_bytes(encode(img.convert("L"), "PNG")).pdq_quality > 0


def test_uniform_image_is_weak() -> None:
    h = hash_bytes(encode(Image.new("RGB", (300, 300), (90, 90, 90)), "PNG"))
    assert h.weak


def test_query_candidates_undo_borders_and_mirrors() -> None:
    img = scene(500, 400, seed=5)
    orig = hash_bytes(encode(img, "PNG")).pdq
    framed = np.asarray(ImageOps.expand(img, border=50, fill=(0, 0, 0)))
    assert trim_box(framed) == (51, 449, 51, 549)
    cands = candidates(framed, (600, 500))
    # The trimmed candidate undoes the border (an embedded-region candidate may tie with it).
    trim = next(c for c in cands if c.label == "pdq:trim")
    assert hamming_hex(trim.pdq, orig) <= 8
    mirrored = np.asarray(ImageOps.mirror(img))
    best = min(candidates(mirrored, (500, 400)), key=lambda c: hamming_hex(c.pdq, orig))
    assert best.label == "pdq:flip_h" and hamming_hex(best.pdq, orig) <= 8
    assert trim_box(np.asarray(img)) is None


def test_heic_is_accepted_when_pillow_heif_is_installed() -> None:
    pytest.importorskip("pillow_heif")
    h = hash_bytes(encode(scene(320, 240), "HEIF"))
    assert h.format == "HEIF" and h.pdq_quality >= 50
    jpeg_pdq = hash_bytes(encode(scene(320, 240), quality=95)).pdq
    assert hamming_hex(h.pdq, jpeg_pdq) <= 16

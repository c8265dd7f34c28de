"""Embedded photos in screenshots and collages, and border trimming (generated images only)."""

from __future__ import annotations

import numpy as np
import pdqhash
from PIL import Image, ImageOps
from tests.media.photo_like import collage, jpeg, photo, screenshot

from openhotline.media.hashing import bits_to_hex, hamming_hex
from openhotline.media.regions import find_regions
from openhotline.media.service import query_image


def _pdq(img: Image.Image) -> str:
    return bits_to_hex(pdqhash.compute(np.asarray(img.convert("RGB")))[0])


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    t, bo, le, r = max(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), min(a[3], b[3])
    inter = max(0, bo - t) * max(0, r - le)
    area = lambda x: (x[1] - x[0]) * (x[3] - x[2])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def test_photo_inside_a_screenshot_is_a_region() -> None:
    shot, box = screenshot(photo(seed=1))
    regions = find_regions(np.asarray(shot))
    assert max(_iou(r.box, box) for r in regions) > 0.95


def test_screenshot_matches_through_its_region_candidate() -> None:
    pic = photo(seed=2)
    shot, _ = screenshot(pic)
    q = query_image(jpeg(shot))
    # The whole screenshot's hash is far from the photo's; one region candidate is close.
    assert hamming_hex(q.hashes.pdq, _pdq(pic)) > 31
    best = min(q.candidates, key=lambda c: hamming_hex(c.pdq, _pdq(pic)))
    assert best.label.startswith("pdq:region") and hamming_hex(best.pdq, _pdq(pic)) <= 31


def test_every_cell_of_a_collage_is_a_region() -> None:
    cells = [photo(240, 180, seed=s) for s in (3, 4, 5, 6)]
    grid = np.asarray(collage(cells))
    regions = find_regions(grid)
    for k in range(4):
        top, left = 6 + (k // 2) * 186, 6 + (k % 2) * 246
        cell = (top, top + 180, left, left + 240)
        assert max(_iou(r.box, cell) for r in regions) > 0.9, k


def test_flat_and_tiny_images_have_no_regions() -> None:
    assert find_regions(np.full((300, 400, 3), 200, np.uint8)) == []
    assert find_regions(np.asarray(photo(60, 60))[:20, :20]) == []
    # A plain photo is not cut into pieces of itself as "regions" covering it.
    assert all(_iou(r.box, (0, 360, 0, 480)) < 0.95 for r in find_regions(np.asarray(photo())))


def test_dark_low_contrast_photo_in_a_black_border_is_trimmed() -> None:
    dark = photo(seed=7, low=0, high=40)
    framed = ImageOps.expand(dark, border=40, fill=(0, 0, 0))
    q = query_image(jpeg(framed))
    assert hamming_hex(q.hashes.pdq, _pdq(dark)) > 31
    trims = [c for c in q.candidates if c.label.startswith("pdq:trim")]
    assert min(hamming_hex(c.pdq, _pdq(dark)) for c in trims) <= 31


def test_borders_of_several_colours_are_trimmed() -> None:
    pic = photo(seed=8)
    for fill in [(255, 255, 255), (128, 128, 128), (20, 30, 80), (200, 30, 30)]:
        q = query_image(jpeg(ImageOps.expand(pic, border=(30, 20), fill=fill)))
        assert min(hamming_hex(c.pdq, _pdq(pic)) for c in q.candidates) <= 31, fill

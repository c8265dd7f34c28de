"""Query candidates for dark photos in borders and screenshots (generated images only)."""

from __future__ import annotations

import numpy as np
import pdqhash
from PIL import Image, ImageDraw, ImageOps
from tests.media.photo_like import jpeg, photo

from openhotline.matching.rules import describe
from openhotline.media.hashing import bits_to_hex, hamming_hex
from openhotline.media.regions import background_blocks, find_regions, inset_boxes, snap_box
from openhotline.media.robust import symmetric_box
from openhotline.media.service import query_image


def _pdq(img: Image.Image) -> str:
    return bits_to_hex(pdqhash.compute(np.asarray(img.convert("RGB")))[0])


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    t, bo, le, r = max(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), min(a[3], b[3])
    inter = max(0, bo - t) * max(0, r - le)
    area = lambda x: (x[1] - x[0]) * (x[3] - x[2])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def _night(w: int = 400, h: int = 300, seed: int = 0, margin: int = 40) -> Image.Image:
    """A dark 'night sky': sparse stars and a dim cloud in the middle, black margins."""
    rng = np.random.default_rng(seed)
    sky = np.zeros((h, w, 3), np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(3):
        cy, cx, r = rng.uniform(0.4, 0.6) * h, rng.uniform(0.4, 0.6) * w, rng.uniform(0.05, 0.1) * w
        sky += (np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)) * 70)[..., None]
    stars = rng.random((h, w)) < 0.01
    sky[stars] = rng.uniform(120, 255, (int(stars.sum()), 3))
    sky[:margin], sky[h - margin :], sky[:, :margin], sky[:, w - margin :] = 0, 0, 0, 0
    img = Image.fromarray(sky.clip(0, 255).astype(np.uint8))
    return img.resize((w, h), Image.Resampling.BILINEAR)


def test_symmetric_box_takes_the_smaller_trim_of_each_pair_of_sides() -> None:
    assert symmetric_box((19, 268, 17, 268), 282, 282) == (14, 268, 14, 268)
    assert symmetric_box((40, 260, 0, 300), 300, 300) == (40, 260, 0, 300)  # letterbox


def test_dark_photo_with_a_dark_margin_on_one_side_matches_through_the_symmetric_trim() -> None:
    # Black rows at the photo's own top: a trim stops inside the photo there, not elsewhere.
    pic = np.asarray(photo(seed=11))
    pic = np.concatenate([np.zeros((36, pic.shape[1], 3), np.uint8), pic])
    img = Image.fromarray(pic)
    framed = ImageOps.expand(img, border=25, fill=(0, 0, 0))
    q = query_image(jpeg(framed))
    by_label = {c.label: hamming_hex(c.pdq, _pdq(img)) for c in q.candidates}
    sym = [d for lbl, d in by_label.items() if lbl.endswith(":sym")]
    assert sym and min(sym) <= 31
    assert by_label["pdq:trim"] > min(sym)  # the plain trim cut into the photo's margin


def test_snap_box_moves_a_side_over_the_photos_own_dark_margin_to_the_page() -> None:
    page = np.full((400, 600, 3), 255, np.uint8)
    page[50:350, 100:500] = np.asarray(_night(400, 300, seed=3))
    # A block that stops at the textured part (the XY-cut takes the black margin for a gutter)
    assert snap_box(page, (90, 310, 140, 460)) == (50, 350, 100, 500)
    # A block that already ends at a textured edge on a bright page is left alone.
    page[50:350, 100:500] = np.asarray(photo(400, 300, seed=4))
    assert snap_box(page, (50, 350, 100, 500)) == (50, 350, 100, 500)


def test_snap_box_does_not_run_into_a_border_of_the_margins_colour() -> None:
    page = np.zeros((400, 600, 3), np.uint8)  # black page: the margin never ends
    page[50:350, 100:500] = np.asarray(_night(400, 300, seed=3))
    assert snap_box(page, (90, 310, 140, 460)) == (90, 310, 140, 460)


def test_inset_boxes_shrink_each_side_and_skip_tiny_boxes() -> None:
    assert inset_boxes((0, 200, 0, 400)) == [(2, 198, 4, 396), (5, 195, 10, 390)]
    assert inset_boxes((0, 3, 0, 3)) == []


def _dark_page(pic: Image.Image) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """A dark-theme page: header bar, text sidebar, the picture on the page colour."""
    w, h = pic.width + 220, pic.height + 120
    out = Image.new("RGB", (w, h), (32, 33, 36))
    d = ImageDraw.Draw(out)
    d.rectangle([0, 0, w, 30], fill=(60, 60, 70))
    d.text((20, 8), "https://forum.example.test/thread/2", fill=(230, 230, 230))
    d.rectangle([w - 180, 30, w, h], fill=(45, 46, 50))
    for k in range(10):
        d.text((w - 170, 50 + 22 * k), f"Topic {k + 1}", fill=(230, 230, 230))
    left, top = 20, 50
    out.paste(pic, (left, top))
    d.text((left, top + pic.height + 10), "Posted by user123", fill=(230, 230, 230))
    return out, (top, top + pic.height, left, left + pic.width)


def test_background_block_finds_a_dark_photo_on_a_dark_page() -> None:
    shot, box = _dark_page(_night(seed=5))
    blocks = background_blocks(np.asarray(shot))
    assert blocks and max(_iou(b, box) for b in blocks) > 0.97


def test_background_blocks_of_a_plain_photo_and_a_flat_image_are_empty() -> None:
    assert background_blocks(np.full((300, 400, 3), 90, np.uint8)) == []
    assert background_blocks(np.asarray(photo(seed=6))) == []


def test_dark_photo_on_a_dark_page_matches() -> None:
    pic = _night(seed=9)
    shot, _ = _dark_page(pic)
    q = query_image(jpeg(shot))
    assert hamming_hex(q.hashes.pdq, _pdq(pic)) > 31
    best = min(q.candidates, key=lambda c: hamming_hex(c.pdq, _pdq(pic)))
    assert hamming_hex(best.pdq, _pdq(pic)) <= 31
    assert best.label.startswith(("pdq:block", "pdq:region"))


def test_photo_split_by_its_own_flat_rows_is_still_one_region_below_a_bar() -> None:
    # A black band across the photo cuts it like a gutter, at the same level as the bar.
    pic = np.asarray(photo(400, 300, seed=12)).copy()
    pic[140:160] = 0
    page = Image.new("RGB", (400, 380), (255, 255, 255))
    d = ImageDraw.Draw(page)
    d.text((10, 20), "WHEN THE TESTS FINALLY PASS", fill=(0, 0, 0))
    page.paste(Image.fromarray(pic), (0, 80))
    regions = find_regions(np.asarray(page))
    assert max(_iou(r.box, (80, 380, 0, 400)) for r in regions) > 0.97


def test_new_candidate_labels_are_described_in_words() -> None:
    assert describe("pdq:trim:sym") == "PDQ, border trimmed, symmetric"
    assert describe("pdq:region2:snap") == "PDQ, embedded region 2, edges snapped to the page"
    assert describe("pdq:region1:inset2") == "PDQ, embedded region 1, inset 2.5%"
    assert describe("pdq:block1") == "PDQ, block on the page background 1"

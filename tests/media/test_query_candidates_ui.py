"""Query candidates for phone-app and chat screenshots and halved copies (generated images)."""

from __future__ import annotations

import numpy as np
import pdqhash
from PIL import Image, ImageDraw
from tests.media.photo_like import jpeg, photo
from tests.media.test_query_candidates import _iou, _night

from openhotline.matching.rules import describe, max_distance
from openhotline.media.hashing import bits_to_hex, hamming_hex
from openhotline.media.regions import background_blocks, extend_box, grow_box, page_colour
from openhotline.media.service import query_image


def _pdq(img: Image.Image) -> str:
    return bits_to_hex(pdqhash.compute(np.asarray(img.convert("RGB")))[0])


def _app(pic: Image.Image) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """A dark phone app page: status text, an avatar and name, the photo at full width,
    icons and a comment below, all on black."""
    w = pic.width
    top, below = 90, 150
    out = Image.new("RGB", (w, top + pic.height + below), (0, 0, 0))
    d = ImageDraw.Draw(out)
    d.text((12, 6), "9:41", fill=(240, 240, 240))
    d.ellipse([12, 34, 62, 84], fill=(200, 120, 60))  # 6 px above the photo
    d.text((74, 48), "someone_42", fill=(240, 240, 240))
    out.paste(pic, (0, top))
    y = top + pic.height
    for k in range(3):
        d.ellipse([12 + 40 * k, y + 6, 40 + 40 * k, y + 34], outline=(240, 240, 240), width=2)
    d.text((12, y + 70), "512 likes", fill=(240, 240, 240))
    return out, (top, top + pic.height, 0, w)


def _chat(pic: Image.Image) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """A light chat window: a contact pane, a header, the photo in a green bubble with a time
    under it, on a beige pane."""
    w, h = pic.width * 2, pic.height + 160
    out = Image.new("RGB", (w, h), (236, 229, 221))
    d = ImageDraw.Draw(out)
    d.rectangle([0, 0, w // 4, h], fill=(255, 255, 255))
    for k in range(8):
        d.text((10, 10 + 30 * k), f"Contact {k + 1}", fill=(20, 20, 20))
    d.rectangle([w // 4, 0, w, 40], fill=(255, 255, 255))
    bx, by, pad = w // 4 + 30, 60, 6
    d.rounded_rectangle([bx, by, bx + pic.width + 2 * pad, by + pic.height + 2 * pad + 18],
                        radius=12, fill=(215, 245, 200))  # fmt: skip
    out.paste(pic, (bx + pad, by + pad))
    d.text((bx + pad, by + pad + pic.height + 3), "12:04", fill=(20, 20, 20))
    return out, (by + pad, by + pad + pic.height, bx + pad, bx + pad + pic.width)


def test_page_colour_is_the_rings_commonest_colour_or_none() -> None:
    page = np.full((100, 200, 3), 30, np.uint8)
    page[40:60, 50:150] = 200
    assert page_colour(page) is not None and list(page_colour(page)) == [30, 30, 30]  # type: ignore[arg-type]
    assert page_colour(np.asarray(photo(seed=3))) is None


def test_grow_box_crosses_a_faint_sky_up_to_the_page_and_extend_box_the_page() -> None:
    page = np.zeros((300, 200, 3), np.uint8)
    page[10:20, 20:80] = 240  # a UI element above
    rng = np.random.default_rng(1)
    page[50:250] = rng.integers(0, 12, (200, 200, 3))  # the photo's faint sky: not the page
    page[100:200] = 120  # the part the XY-cut finds
    assert grow_box(page, (100, 200, 0, 200)) == (50, 250, 0, 200)
    # From the grown box, over the black page up to the UI element or the image's edge.
    assert extend_box(page, (50, 250, 0, 200)) == (20, 300, 0, 200)
    page[280:] = 240
    assert extend_box(page, (50, 250, 0, 200)) == (20, 280, 0, 200)
    assert grow_box(page, (50, 250, 0, 200)) is None  # already at the page
    assert grow_box(np.asarray(photo(seed=2)), (100, 200, 100, 200)) is None  # no page at all


def test_photo_in_a_chat_bubble_is_found_two_levels_down_without_the_time() -> None:
    shot, box = _chat(photo(320, 240, seed=21))
    blocks = background_blocks(np.asarray(shot))
    assert max(_iou(b, box) for b in blocks) > 0.97


def test_photo_in_a_chat_bubble_matches_through_a_block() -> None:
    # Before: the deepest block was the bubble with its rim and time (over 31 bits away).
    pic = photo(320, 240, seed=22)
    shot, _ = _chat(pic)
    q = query_image(jpeg(shot))
    ok = [c for c in q.candidates
          if hamming_hex(c.pdq, _pdq(pic)) <= max_distance(c.label, c.quality, 31)]  # fmt: skip
    assert any(c.label.startswith("pdq:block") for c in ok)


def test_photo_with_black_margins_in_a_dark_phone_app_matches_through_extend() -> None:
    # The photo's own black bars are the page's colour: no block reaches its edge, only the
    # block extended over the page to the UI elements (6 px away) does.
    inner = np.asarray(photo(400, 300, seed=7))
    bars = np.zeros((60, 400, 3), np.uint8)
    pic = Image.fromarray(np.concatenate([bars, inner, bars]))
    shot, _ = _app(pic)
    q = query_image(jpeg(shot))
    dist = {c.label: hamming_hex(c.pdq, _pdq(pic)) for c in q.candidates}
    ok = {lbl for lbl, d in dist.items() if d <= 31}
    assert ok and all(lbl.endswith(":extend") for lbl in ok), dist


def test_dark_photo_grows_over_its_faint_sky_to_the_page() -> None:
    sky = np.asarray(_night(400, 400, seed=7, margin=0)).astype(np.int16)
    sky = np.maximum(sky, np.random.default_rng(7).integers(0, 14, sky.shape))  # sensor noise
    sky[:50], sky[-50:], sky[:, :50], sky[:, -50:] = 0, 0, 0, 0  # its own black margins
    shot, _ = _app(Image.fromarray(sky.astype(np.uint8)))
    a = np.asarray(shot)
    blocks = background_blocks(a)
    assert blocks and all(_iou(b, (140, 440, 50, 350)) < 0.6 for b in blocks)  # the cloud only
    assert _iou(grow_box(a, blocks[0]) or blocks[0], (140, 440, 50, 350)) > 0.97


def test_halved_copy_matches_through_the_upscaled_window_candidate() -> None:
    pic = _night(512, 512, seed=3, margin=0)
    half = pic.resize((256, 256), Image.Resampling.BICUBIC)
    q = query_image(jpeg(half))
    up = next(c for c in q.candidates if c.label == "pdq:up2")
    assert hamming_hex(up.pdq, _pdq(pic)) < hamming_hex(q.hashes.pdq, _pdq(pic))
    big = query_image(jpeg(photo(1400, 1100, seed=4)))
    assert all(c.label != "pdq:up2" for c in big.candidates)  # not a halved copy's size


def test_new_labels_are_described_and_are_guesses() -> None:
    assert describe("pdq:up2") == "PDQ, hashed as a halved copy of a twice larger image"
    assert describe("pdq:region2:grow") == (
        "PDQ, embedded region 2, grown over a dark edge to the page"
    )
    assert describe("pdq:block1:extend").endswith("extended over the page to the next UI element")
    assert max_distance("pdq:up2", 40, 31) == 0  # a weak image's guess: identical only
    assert max_distance("pdq:block1:grow", 80, 31) == 31

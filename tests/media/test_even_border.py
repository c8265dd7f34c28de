"""Even-border trims: a dark photo whose own edges merge with a dark border (generated images)."""

from __future__ import annotations

import io

import numpy as np
import pdqhash
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps
from tests.media.photo_like import jpeg, photo

from openhotline.matching.rules import describe
from openhotline.media.hashing import bits_to_hex, hamming_hex
from openhotline.media.robust import even_boxes, trim_box
from openhotline.media.service import query_image


def _pdq(img: Image.Image) -> str:
    return bits_to_hex(pdqhash.compute(np.asarray(img.convert("RGB")))[0])


def test_even_boxes_use_the_narrowest_side_in_pixels_and_as_a_share() -> None:
    # Top and bottom trimmed into the photo's dark rows; left and right at the border.
    assert even_boxes((41, 231, 9, 263), 272, 272) == [(9, 263, 9, 263), (9, 263, 9, 263)]
    # A wider image: equal width in pixels, or the same share of each side.
    assert even_boxes((30, 170, 20, 380), 200, 400) == [(20, 180, 20, 380), (10, 190, 20, 380)]


def test_even_boxes_need_a_border_on_every_side() -> None:
    assert even_boxes((40, 260, 0, 300), 300, 300) == []  # a letterbox: the symmetric trim's
    assert even_boxes((0, 300, 10, 290), 300, 300) == []


def _dark_edged(seed: int) -> Image.Image:
    """A photo-like gradient whose top and bottom fade to black (a night sky's margins)."""
    pic = np.asarray(photo(400, 400, seed=seed)).astype(np.float32)
    ramp = np.clip(np.abs(np.linspace(-1, 1, 400)) * -6 + 5.4, 0, 1)  # black outer 10% rows
    return Image.fromarray((pic * ramp[:, None, None]).astype(np.uint8))


def test_dark_edges_on_opposite_sides_match_through_the_even_trim() -> None:
    # Both the top and the bottom are as dark as the border: the plain and the symmetric
    # trims cut into the photo there; the left and right give the border's true width.
    img = _dark_edged(seed=21)
    framed = ImageOps.expand(img, border=30, fill=(0, 0, 0))
    q = query_image(jpeg(framed))
    by_label = {c.label: hamming_hex(c.pdq, _pdq(img)) for c in q.candidates}
    assert by_label["pdq:trim:eq"] <= 31
    others = [d for lbl, d in by_label.items() if lbl.startswith("pdq:trim") and "eq" not in lbl
              and "prop" not in lbl]  # fmt: skip
    assert min(others) > by_label["pdq:trim:eq"]


def test_even_trim_labels_are_described() -> None:
    assert describe("pdq:trim:eq") == "PDQ, border trimmed, equal width on every side"
    assert describe("pdq:trim:prop") == "PDQ, border trimmed, equal share of every side"


def test_a_bordered_image_decoded_small_is_trimmed_again_at_full_resolution() -> None:
    # 666 px: decoded at half size, where the border's edge (77 px) falls between two
    # pixels; the full-resolution trim finds the photo's first line exactly (a PNG: no
    # JPEG ringing at the border's edge).
    img = photo(512, 512, seed=31)
    framed = ImageOps.expand(img, border=77, fill=(240, 235, 220))
    buf = io.BytesIO()
    framed.save(buf, "PNG")
    q = query_image(buf.getvalue())
    by_label = {c.label: hamming_hex(c.pdq, _pdq(img)) for c in q.candidates}
    assert by_label["pdq:trim:full"] == 0
    assert by_label["pdq:trim"] > 4
    # An image without a border gets no second trim.
    plain = query_image(jpeg(photo(700, 600, seed=32)))
    assert not any(c.label.endswith(":full") and "trim" in c.label for c in plain.candidates)


def test_an_image_decoded_at_full_size_is_trimmed_again_without_the_extra_line() -> None:
    # 340 px: decoded at full size, so the first trims take one line too many on each
    # side (the line a small decode blends); the ring-free trim is the photo exactly.
    img = photo(300, 300, seed=31)
    buf = io.BytesIO()
    ImageOps.expand(img, border=20, fill=(240, 235, 220)).save(buf, "PNG")
    q = query_image(buf.getvalue())
    by_label = {c.label: hamming_hex(c.pdq, _pdq(img)) for c in q.candidates}
    assert by_label["pdq:trim:full"] == 0
    assert by_label["pdq:trim"] > 0


def _night_sky(seed: int) -> Image.Image:
    """A photo inside a wide margin of faint noise (levels 0-3): a night sky around a nebula."""
    rng = np.random.default_rng(seed)
    sky = rng.integers(0, 4, (400, 400, 1)).repeat(3, axis=2).astype(np.uint8)
    sky[60:340, 60:340] = np.asarray(photo(280, 280, seed=seed))
    return Image.fromarray(sky)


def test_an_exact_colour_trim_stops_at_a_night_sky_as_dark_as_the_border() -> None:
    # Within 4 and 12 levels the sky's lines pass for the black border, so those trims cut
    # 60 lines into the photo; a flat border's pixels are exact (a lossless file here), so
    # the exact-colour trim stops at the sky's first line.
    img = _night_sky(seed=41)
    buf = io.BytesIO()
    ImageOps.expand(img, border=30, fill=(0, 0, 0)).save(buf, "PNG")
    q = query_image(buf.getvalue())
    by_label = {c.label: hamming_hex(c.pdq, _pdq(img)) for c in q.candidates}
    assert by_label["pdq:trim1:full"] <= 2
    others = [d for lbl, d in by_label.items() if lbl.startswith(("pdq:trim:", "pdq:trim2"))]
    assert min(others) > 31
    assert describe("pdq:trim1:sym:full") == (
        "PDQ, border trimmed (exact colour), symmetric, full resolution"
    )


def test_trim_box_at_full_resolution_keeps_the_first_line_off_the_border() -> None:
    rgb = np.zeros((100, 120, 3), np.uint8)
    rgb[10:90, 15:105] = 200
    assert trim_box(rgb, ring=False) == (10, 90, 15, 105)
    assert trim_box(rgb) == (11, 89, 16, 104)  # a downscaled decode's blended edge line


def _reference_trim(rgb: np.ndarray, tolerance: int) -> tuple[int, int, int, int]:
    """The leading uniform lines of each side, comparing every line at once."""
    a = rgb.astype(np.int16)
    colour = np.median(np.stack([a[0, 0], a[0, -1], a[-1, 0], a[-1, -1]]), axis=0).astype(np.int16)

    def run(lines: np.ndarray) -> int:
        ok = (np.abs(lines - colour).max(axis=-1) <= tolerance).mean(axis=1) >= 0.98
        bad = np.flatnonzero(~ok)
        return int(bad[0]) if len(bad) else len(ok)

    t = a.transpose(1, 0, 2)
    return run(a), len(a) - run(a[::-1]), run(t), t.shape[0] - run(t[::-1])


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(16, 90),
    w=st.integers(16, 90),
    sides=st.tuples(*[st.integers(0, 30)] * 4),
    seed=st.integers(0, 2**16),
    tolerance=st.sampled_from([4, 12]),
)
def test_trim_box_reads_lines_in_chunks_like_a_whole_comparison(
    h: int, w: int, sides: tuple[int, int, int, int], seed: int, tolerance: int
) -> None:
    rng = np.random.default_rng(seed)
    top, bottom, left, right = sides
    inner = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    inner[: h // 3] = rng.integers(0, 256, 3)  # a flat band: long uniform runs at one side
    rgb = np.pad(inner, ((top, bottom), (left, right), (0, 0)), constant_values=30)
    ref = _reference_trim(rgb, tolerance)
    got = trim_box(rgb, tolerance, ring=False)
    rh, rw = rgb.shape[:2]
    if got is not None:
        assert got == ref
    else:  # nothing to trim, or too little would be left
        assert ref == (0, rh, 0, rw) or ref[1] - ref[0] < rh * 0.3 or ref[3] - ref[2] < rw * 0.3

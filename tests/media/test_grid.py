"""Cells of grid-like collages (media/grid.py) on generated pictures."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from tests.media.photo_like import jpeg, photo

from openhotline.media.decode import decode
from openhotline.media.grid import grid_cells

Box = tuple[int, int, int, int]


def _dark(w: int, h: int, seed: int) -> Image.Image:
    """A dark photo with a black sky over its left third (flat lines, like a night sky)."""
    p = np.asarray(photo(w, h, seed=seed, low=0, high=50)).copy()
    p[:, : w // 3] = 0
    return Image.fromarray(p)


def _layout(
    widths: list[int], heights: list[int], gutter: int, colour: tuple[int, int, int], seed: int,
    dark: int = -1,
) -> tuple[Image.Image, list[Box]]:  # fmt: skip
    """A grid collage of generated photos (cell `dark` a dark one) and its cells' boxes."""
    size = (
        sum(widths) + gutter * (len(widths) + 1),
        sum(heights) + gutter * (len(heights) + 1),
    )
    out = Image.new("RGB", size, colour)
    boxes = []
    for cy, ch in enumerate(heights):
        for cx, cw in enumerate(widths):
            k = cy * len(widths) + cx
            x, y = gutter + sum(widths[:cx]) + gutter * cx, gutter + sum(heights[:cy]) + gutter * cy
            out.paste(
                _dark(cw, ch, seed + k) if k == dark else photo(cw, ch, seed=seed + k), (x, y)
            )
            boxes.append((y, y + ch, x, x + cw))
    return out, boxes


# JPEG blurs a thin gutter into the lines beside it (8x8 blocks, halved colour), so a seam
# may be found at the blur's edge and a cell keep its gutter's lines: harmless for matching
# (flat lines have no keypoints). A split or merged cell overlaps the true one by <= 0.5.
MIN_IOU = 0.9


def _iou(a: Box, b: Box) -> float:
    t, bo, left, r = max(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), min(a[3], b[3])
    inter = max(0, bo - t) * max(0, r - left)
    return inter / ((a[1] - a[0]) * (a[3] - a[2]) + (b[1] - b[0]) * (b[3] - b[2]) - inter)


def _matches(found: list[Box], truth: list[Box]) -> bool:
    """One found box per true cell, each overlapping it by MIN_IOU, and no other box."""
    return len(found) == len(truth) and all(
        any(_iou(f, t) >= MIN_IOU for f in found) for t in truth
    )


def _rgb(img: Image.Image) -> npt.NDArray[np.uint8]:
    return decode(jpeg(img)).frames[0]


def test_every_cell_of_a_3x3_collage_is_found_whole_even_a_dark_one() -> None:
    img, truth = _layout([200] * 3, [150] * 3, 4, (128, 128, 128), seed=3, dark=4)
    assert _matches(grid_cells(_rgb(img)), truth)


def test_cells_are_found_without_gutters_from_the_colour_step_between_them() -> None:
    img, truth = _layout([260, 180], [170, 230], 0, (0, 0, 0), seed=11)
    assert _matches(grid_cells(_rgb(img)), truth)


def test_a_single_photo_is_not_a_collage() -> None:
    assert grid_cells(_rgb(photo(480, 360, seed=5))) == []
    assert grid_cells(_rgb(_dark(480, 360, seed=6))) == []


@settings(max_examples=12, deadline=None)
@given(
    cols=st.lists(st.integers(160, 320), min_size=1, max_size=3),
    rows=st.lists(st.integers(160, 320), min_size=1, max_size=3),
    gutter=st.sampled_from([4, 6, 10]),
    # Neutral gutters: JPEG halves the colour resolution, so a thin saturated gutter is not
    # one colour to FLAT_TOLERANCE and is found as two steps, its lines kept in the cells.
    colour=st.sampled_from([(255, 255, 255), (128, 128, 128), (0, 0, 0)]),
    seed=st.integers(0, 1000),
)
def test_grid_layouts_with_gutters_give_their_cells(
    cols: list[int], rows: list[int], gutter: int, colour: tuple[int, int, int], seed: int
) -> None:
    img, truth = _layout(cols, rows, gutter, colour, seed)
    found = grid_cells(_rgb(img))
    if len(truth) == 1:
        assert found == []
    else:
        assert _matches(found, truth)

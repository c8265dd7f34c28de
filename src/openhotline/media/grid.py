"""Cells of grid-like collages: blocks between straight seams across the image or a cell.

media/regions.py's XY-cut splits along lines with (almost) no edges; a dark photo's own
night sky has none either, so inside a collage it splits a dark cell into fragments and
ranks them above the cell (RESULTS 3e: every collage miss was a dark nebula photograph). A
collage's seams are different from a photo's flat rows: they are straight and cross the
whole collage (or the whole cell they split), and they are either a gutter (lines of one
colour that differs from the pixels on both sides) or, without a gutter, a colour step
between two neighbouring lines over most of their length. We split recursively at such
seams only, so every block found is a whole cell, however dark.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from openhotline.media.decode import RGBArray

Box = tuple[int, int, int, int]  # top, bottom, left, right (bottom/right exclusive)

FLAT_TOLERANCE = 8  # per channel: a gutter line's pixels within this of its median (JPEG)
FLAT_SHARE = 0.97  # share of a line within FLAT_TOLERANCE (dev photos: 0.8 and 12 lost 2)
STEP = 24  # per channel: a colour step this large between two lines is a seam candidate
RING = 2  # lines of JPEG ringing beside a gutter
GUTTER_SIDE_SHARE = 0.3  # share of a neighbouring line that must differ from the gutter
STEP_SHARE = 0.75  # share of a line pair with a STEP (no-gutter seam: a cell's edge)
STEP_CONTRAST = 0.4  # that share must exceed the neighbouring line pairs' by this much
STEP_DEPTH = 1  # steps split blocks this deep at most (0: the whole image)
STEP_NEIGHBOURS = 6  # line pairs each side a step seam is compared with
MAX_GUTTER = 0.15  # a gutter is at most this share of the side it cuts
MIN_CELL = 0.12  # a cell is at least this share of the image's side (4 across at most)
MAX_DEPTH = 4
WORK_SIDE = 512
MAX_CELLS = 12
MIN_TEXTURE = 0.01  # share of a cell's lines that are not flat: else a blank cell


def _flat_lines(
    rgb: npt.NDArray[np.int16], axis: int
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int16]]:
    """(flat, colour) per line (rows for axis=1): nearly one colour, and that colour."""
    med = np.median(rgb, axis=axis, keepdims=True).astype(np.int16)
    close = (np.abs(rgb - med) <= FLAT_TOLERANCE).all(axis=2)
    flat: npt.NDArray[np.bool_] = close.mean(axis=axis) >= FLAT_SHARE
    return flat, np.squeeze(med, axis=axis)


def _lines(rgb: npt.NDArray[np.int16], axis: int) -> npt.NDArray[np.int16]:
    """The image as a sequence of lines: rows for axis=1, columns for axis=0."""
    return rgb if axis == 1 else np.swapaxes(rgb, 0, 1)


def _differs(a: npt.NDArray[np.int16], b: npt.NDArray[np.int16]) -> float:
    """Share of positions where two lines (n, 3) differ by STEP in some channel."""
    return float((np.abs(a - b) > STEP).any(axis=-1).mean())


def _seams(rgb: npt.NDArray[np.int16], axis: int, steps: bool) -> list[tuple[int, int]]:
    """(start, end) of the seams across the whole block: gutter runs, or a step (start == end).

    Lines along the block's edges are left to the caller (trimmed before).
    """
    lines = _lines(rgb, axis)
    n = len(lines)
    flat, colour = _flat_lines(rgb, axis)
    out: list[tuple[int, int]] = []
    k = 1
    while k < n - 1:
        if not flat[k]:
            k += 1
            continue
        # A run of flat lines of one colour: a gutter if the lines on both sides differ.
        e = k + 1
        while e < n - 1 and flat[e] and np.abs(colour[e] - colour[k]).max() <= FLAT_TOLERANCE:
            e += 1
        # The sides are read RING lines away: JPEG rings next to a gutter, and the lines it
        # blurs are neither the gutter's colour nor the cell's.
        before, after = lines[max(0, k - 1 - RING)], lines[min(n - 1, e + RING)]
        if (
            e < n
            and e - k <= MAX_GUTTER * n
            and _differs(before, colour[k]) >= GUTTER_SIDE_SHARE
            and _differs(after, colour[k]) >= GUTTER_SIDE_SHARE
        ):
            out.append((k, e))
        k = e
    if not steps:
        return out
    # Steps: a pair of neighbouring lines (two apart, so JPEG's blur of one line is crossed)
    # that differ over most of their length, far more than the pairs around them.
    share = (np.abs(lines[2:] - lines[:-2]) > STEP).any(axis=-1).mean(axis=1)
    for i in range(len(share)):
        lo, hi = max(0, i - STEP_NEIGHBOURS), min(len(share), i + STEP_NEIGHBOURS + 1)
        around = np.concatenate([share[lo : max(lo, i - 2)], share[i + 3 : hi]])
        if (
            share[i] >= STEP_SHARE
            and share[i] == share[max(0, i - 2) : i + 3].max()
            and (len(around) == 0 or share[i] - float(np.median(around)) >= STEP_CONTRAST)
        ):
            y = i + 1
            if not any(s - 2 <= y <= e + 1 for s, e in out):
                out.append((y, y))
    out.sort()
    return out


def _trim(rgb: npt.NDArray[np.int16], box: Box) -> Box | None:
    """The box without its outer flat lines (an outer gutter or border); None if all flat."""
    t, b, left, r = box
    block = rgb[t:b, left:r]
    rows = np.flatnonzero(~_flat_lines(block, 1)[0])
    cols = np.flatnonzero(~_flat_lines(block, 0)[0])
    if len(rows) == 0 or len(cols) == 0:
        return None
    return t + int(rows[0]), t + int(rows[-1]) + 1, left + int(cols[0]), left + int(cols[-1]) + 1


def _split(rgb: npt.NDArray[np.int16], box: Box, depth: int, min_h: int, min_w: int,
           out: list[Box]) -> None:  # fmt: skip
    # Only the whole image is trimmed (its outer border); a cell is kept from seam to seam:
    # a dark photo's flat night sky is part of it, at the item's own scale.
    tight = _trim(rgb, box) if depth == 0 else box
    if tight is None:
        return
    t, b, left, r = tight
    if depth < MAX_DEPTH:
        for axis in (1, 0):  # rows first, then columns
            side = (b - t) if axis == 1 else (r - left)
            least = min_h if axis == 1 else min_w
            # Steps only across the whole collage or one of its rows or columns (depth 0-1):
            # inside a cell a horizon crosses the whole cell too (dev photos: 50 -> 49/54).
            cuts = _seams(rgb[t:b, left:r], axis, depth <= STEP_DEPTH)
            # Pieces between seams; a seam that leaves a piece thinner than a cell is not one.
            bounds = [0]
            for s, e in cuts:
                if s - bounds[-1] >= least:
                    bounds += [s, e]
            if len(bounds) > 1 and side - bounds[-1] < least:
                bounds = bounds[:-2]
            if len(bounds) == 1:
                continue
            bounds.append(side)
            for s, e in zip(bounds[::2], bounds[1::2], strict=True):
                child = (t + s, t + e, left, r) if axis == 1 else (t, b, left + s, left + e)
                _split(rgb, child, depth + 1, min_h, min_w, out)
            return
    out.append(tight)


def grid_cells(rgb: RGBArray, max_cells: int = MAX_CELLS) -> list[Box]:
    """The cells of a grid-like collage, largest first; [] when the image is not one."""
    h, w = rgb.shape[:2]
    if h < 32 or w < 32:
        return []
    # Seams are found at most WORK_SIDE pixels across (a 6 px gutter stays >= 2 lines there):
    # the medians per line cost too much at full size.
    f = min(1.0, WORK_SIDE / max(h, w))
    small = (
        rgb
        if f == 1
        else cv2.resize(rgb, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    )
    img = np.asarray(small, np.int16)
    h, w = img.shape[:2]
    cells: list[Box] = []
    _split(img, (0, h, 0, w), 0, round(MIN_CELL * h), round(MIN_CELL * w), cells)
    if len(cells) < 2:
        return []
    out = []
    for t, b, left, r in cells:
        if b - t < MIN_CELL * h or r - left < MIN_CELL * w:
            continue
        if (~_flat_lines(img[t:b, left:r], 1)[0]).mean() < MIN_TEXTURE:
            continue  # a blank cell
        out.append((t, b, left, r))
    out.sort(key=lambda c: -(c[1] - c[0]) * (c[3] - c[2]))
    if len(out) < 2:
        return []
    oh, ow = rgb.shape[:2]
    return [
        (
            round(t * oh / h),
            min(oh, round(b * oh / h)),
            round(left * ow / w),
            min(ow, round(r * ow / w)),
        )
        for t, b, left, r in out[:max_cells]
    ]

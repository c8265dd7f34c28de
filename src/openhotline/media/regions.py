"""Embedded photos in screenshots, collages and captioned images (query side, PDQ only).

A screenshot, a chat capture, a 2x2 collage or a meme caption bar puts the photo inside
other pixels, so its PDQ hash no longer resembles the photo's. The photo usually sits in a
rectangle bounded by flat pixels (page background, gutters, panels, caption bars): we cut
the image recursively along runs of rows or columns with (almost) no edges, an XY-cut on
OpenCV's Sobel gradient, and keep the textured blocks large enough to be a photo. Each
block, and each larger block that holds several of them, becomes a PDQ candidate; every
candidate goes through the same index and acceptance rule (matching/rules.py), so the
false-positive count of bench/robustness.py covers them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from openhotline.media.decode import RGBArray

EDGE = 8.0  # |Sobel x| + |Sobel y| above this is active: UI panels are 0, a smooth sky is not
EMPTY_SHARE = 0.015  # a line with fewer edge pixels than this share is a cut line
MIN_GAP = 1  # cut lines in a row needed to split (a 6 px gutter is 1-3 lines when decoded small)
# Lines crossing almost no edge (a page between two panels) cut only in runs this long: a
# photo's own dark sky or flat wall is edge-sparse too, usually over fewer lines.
SPARSE_GAP = 4
FLAT_TOLERANCE = 6.0  # grey levels from the line's median for a flat line (JPEG noise)
MIN_AREA = 0.06  # blocks smaller than this share of the image are not photos
MIN_SIDE_SHARE = 0.2  # nor blocks thinner than this share of the image's side
MIN_DENSITY = 0.04  # a photo block has edges in at least this share of its pixels
MAX_ASPECT = 4.0
MAX_REGIONS = 8
MAX_DEPTH = 6
# Snapping: a dark photo's own flat margin (night sky) looks like a gutter to the XY-cut, so
# the block stops inside the photo; a side is moved outward over flat lines of the grey level
# that dominates the block's edge when that run ends (at the page) within SNAP_MAX of the size.
SNAP_TOLERANCE = 8.0
SNAP_MAX = 0.25
# Insets: a block that still holds a few pixels of UI (a frame line, a bubble's rim, a row of
# a toolbar) hashes far from the photo; the same block shrunk by these shares per side often
# does not (a 1-3% crop moves PDQ far less than a strip of foreign pixels does).
INSETS = (0.01, 0.025)

Box = tuple[int, int, int, int]  # top, bottom, left, right (bottom/right exclusive)
_Line = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Region:
    """A rectangle of the image that may be an embedded photo."""

    box: Box
    score: float  # larger: more photo-like (area x edge density)


def edge_mask(rgb: RGBArray) -> npt.NDArray[np.bool_]:
    """Pixels on an edge (grey-level Sobel magnitude above EDGE)."""
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    mask: npt.NDArray[np.bool_] = (np.abs(gx) + np.abs(gy)) > EDGE
    return mask


def _runs(busy: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Runs of busy lines, splitting only at gaps of at least MIN_GAP empty lines."""
    idx = np.flatnonzero(busy)
    if len(idx) == 0:
        return []
    out = []
    start = prev = int(idx[0])
    for i in idx[1:]:
        i = int(i)
        if i - prev > MIN_GAP:
            out.append((start, prev + 1))
            start = i
        prev = i
    out.append((start, prev + 1))
    return out


def _tighten(lines: _Lines, box: Box) -> Box | None:
    """Shrink a box past its uniform-colour lines (never past textured or flat-ish ones)."""
    t, b, left, r = box
    grey = lines.grey[t:b, left:r]
    rows = np.flatnonzero(~_flat(grey, 1))
    cols = np.flatnonzero(~_flat(grey, 0))
    if len(rows) == 0 or len(cols) == 0:
        return None
    return t + int(rows[0]), t + int(rows[-1]) + 1, left + int(cols[0]), left + int(cols[-1]) + 1


def _long_runs(lines: npt.NDArray[np.bool_], length: int) -> npt.NDArray[np.bool_]:
    """Only the True lines that belong to a run of at least `length` True lines."""
    out = np.zeros_like(lines)
    idx = np.flatnonzero(np.diff(np.concatenate(([0], lines.astype(np.int8), [0]))))
    for s, e in zip(idx[::2], idx[1::2], strict=True):
        if e - s >= length:
            out[s:e] = True
    return out


def _flat(grey: npt.NDArray[np.float32], axis: int) -> npt.NDArray[np.bool_]:
    """Lines (rows for axis=1) of nearly one grey level: borders, gutters, bars."""
    med = np.median(grey, axis=axis, keepdims=True)
    out: npt.NDArray[np.bool_] = (np.abs(grey - med) <= FLAT_TOLERANCE).mean(axis=axis) >= 0.97
    return out


@dataclass(frozen=True)
class _Lines:
    grey: npt.NDArray[np.float32]
    edges: npt.NDArray[np.bool_]


def _cut(lines: _Lines, box: Box, depth: int, out: list[Box]) -> None:
    tight = _tighten(lines, box)
    if tight is None:
        return
    out.append(tight)
    if depth >= MAX_DEPTH:
        return
    t, b, left, r = tight
    edges, grey = lines.edges[t:b, left:r], lines.grey[t:b, left:r]
    for axis in (1, 0):  # rows first (bars, captions), then columns (sidebars, grids)
        # A cut line is flat (a gutter, a bar) or crosses almost no edge (between panels).
        cut = _long_runs(edges.mean(axis=axis) < EMPTY_SHARE, SPARSE_GAP) | _flat(grey, axis)
        runs = _runs(~cut)
        if len(runs) > 1:
            for s, e in runs:
                child = (t + s, t + e, left, r) if axis == 1 else (t, b, left + s, left + e)
                _cut(lines, child, depth + 1, out)
            # A dark photo's own flat rows (night sky) split it like gutters do, at the same
            # level as a UI bar or caption beside it: the runs without the first, without the
            # last, and without both are blocks too (the photo whole, its bar or caption cut).
            spans = [(1, len(runs)), (0, len(runs) - 1)] if len(runs) >= 3 else []
            spans += [(1, len(runs) - 1)] if len(runs) >= 4 else []
            for i, j in spans:
                s, e = runs[i][0], runs[j - 1][1]
                child = (t + s, t + e, left, r) if axis == 1 else (t, b, left + s, left + e)
                joined = _tighten(lines, child)
                if joined is not None:
                    out.append(joined)
            return


def _iou(a: Box, b: Box) -> float:
    t, bo = max(a[0], b[0]), min(a[1], b[1])
    left, r = max(a[2], b[2]), min(a[3], b[3])
    inter = max(0, bo - t) * max(0, r - left)
    area = (a[1] - a[0]) * (a[3] - a[2]) + (b[1] - b[0]) * (b[3] - b[2]) - inter
    return inter / area if area else 0.0


def find_regions(rgb: RGBArray, max_regions: int = MAX_REGIONS) -> list[Region]:
    """Photo-like rectangles inside the image, most photo-like first (never the whole)."""
    h, w = rgb.shape[:2]
    if h < 32 or w < 32:
        return []
    mask = edge_mask(rgb)
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)
    boxes: list[Box] = []
    _cut(_Lines(grey, mask), (0, h, 0, w), 0, boxes)
    seen: set[Box] = set()
    found = []
    # Deepest first: of two nearly equal boxes keep the child (a photo without its caption).
    for box in reversed(boxes):
        t, b, left, r = box
        bh, bw = b - t, r - left
        if any(_iou(box, o) > 0.9 for o in seen) or bh * bw > 0.95 * h * w:
            continue  # the whole image (or nearly) is already the plain candidate
        seen.add(box)
        if bh * bw < MIN_AREA * h * w or bh < MIN_SIDE_SHARE * h or bw < MIN_SIDE_SHARE * w:
            continue
        if max(bh / bw, bw / bh) > MAX_ASPECT:
            continue
        density = float(mask[t:b, left:r].mean())
        if density < MIN_DENSITY:
            continue  # flat or text-only: a panel, not a photo
        found.append(Region(box, bh * bw / (h * w) * density))
    found.sort(key=lambda g: -g.score)
    return found[:max_regions]


def _line_flat(line: npt.NDArray[np.float32]) -> tuple[bool, float]:
    """Whether a line of grey levels is (nearly) one level, and that level."""
    med = float(np.median(line))
    return bool((np.abs(line - med) <= FLAT_TOLERANCE).mean() >= 0.97), med


def snap_box(rgb: RGBArray, box: Box) -> Box:
    """The box with each side moved outward over its photo's own flat margin."""
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)
    h, w = grey.shape
    t, b, left, r = box
    max_v, max_h = round((b - t) * SNAP_MAX), round((r - left) * SNAP_MAX)

    def walk(edge: int, step: int, most: int, line_at: Callable[[int], _Line]) -> int:
        # Over flat lines of the grey level that dominates the box's own edge (the photo's
        # dark sky continuing); a run that reaches the image's edge or SNAP_MAX is a border
        # or the page, not the photo's margin.
        inside = np.concatenate([line_at(edge - step * j) for j in range(3)])
        level = float(np.median(inside))
        k = edge
        for _ in range(most):
            f, lv = _line_flat(line_at(k + step))
            if not f or abs(lv - level) > SNAP_TOLERANCE:
                return k
            k += step
        return edge

    top = walk(t, -1, min(t, max_v), lambda y: grey[y, left:r])
    bottom = walk(b - 1, 1, min(h - b, max_v), lambda y: grey[y, left:r]) + 1
    lft = walk(left, -1, min(left, max_h), lambda x: grey[t:b, x])
    rgt = walk(r - 1, 1, min(w - r, max_h), lambda x: grey[t:b, x]) + 1
    return top, bottom, lft, rgt


def inset_boxes(box: Box) -> list[Box]:
    """The box shrunk by each of INSETS per side (smallest first)."""
    t, b, left, r = box
    out = []
    for share in INSETS:
        dy, dx = max(1, round((b - t) * share)), max(1, round((r - left) * share))
        if b - t > 4 * dy and r - left > 4 * dx:
            out.append((t + dy, b - dy, left + dx, r - dx))
    return out


BACKGROUND_TOLERANCE = 10  # per channel: the page colour after JPEG (ringing aside)
MAX_BLOCKS = 4
CONTAINER_SHARE = 0.85  # a line this much of its container's colour is the container's (text)
EXTEND_TOLERANCE = 3  # per channel: a line of the page, exactly (a photo's dark sky is noisier)
BORDER_SHARE = 0.99  # share of a line's pixels of the page colour for a page line
EXTEND_GAP = 0.08  # lines of the photo's faint edge crossed before the page run
RING_INSET = 2  # lines
EXTEND_MAX = 0.6  # a side moves outward over page lines by at most this share of the box


def page_colour(rgb: RGBArray) -> npt.NDArray[np.int32] | None:
    """The commonest colour of the image's outer ring (the page), or None if none dominates.

    Coarse bins, then the median of the ring's pixels in the winning bin.
    """
    ring = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.int32)
    bins = ring // 16
    keys = bins[:, 0] * 256 + bins[:, 1] * 16 + bins[:, 2]
    values, counts = np.unique(keys, return_counts=True)
    top = values[int(np.argmax(counts))]
    if counts.max() < 0.3 * len(keys):
        return None  # no dominant border colour: not a page around a photo
    colour: npt.NDArray[np.int32] = np.median(ring[keys == top], axis=0).astype(np.int32)
    return colour


def _background_components(rgb: RGBArray, min_area: float) -> list[Box]:
    """Bounding boxes of the largest connected areas that are not the dominant border colour.

    A screenshot's photo is separated from the bars, panels and text around it by at least a
    few pixels of page background (see page_colour).
    """
    h, w = rgb.shape[:2]
    colour = page_colour(rgb)
    if colour is None:
        return []
    diff = np.abs(rgb.astype(np.int32) - colour.astype(np.int32)).max(axis=2)
    fore = (diff > BACKGROUND_TOLERANCE).astype(np.uint8)
    fore = cv2.morphologyEx(fore, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    _n, _labels, stats, _c = cv2.connectedComponentsWithStats(fore, connectivity=4)
    out = []
    for k in np.argsort(-stats[1:, cv2.CC_STAT_AREA])[:MAX_BLOCKS] + 1:
        x, y, bw, bh = (int(v) for v in stats[k, :4])
        if bw * bh < min_area * h * w or bw * bh > 0.95 * h * w:
            continue
        out.append((y, y + bh, x, x + bw))
    return out


def background_blocks(rgb: RGBArray) -> list[Box]:
    """Photo-sized areas set off from a screenshot's page background (and, one level down,
    from the panel or message bubble that holds them), largest first."""
    h, w = rgb.shape[:2]
    if h < 32 or w < 32:
        return []
    out: list[Box] = []
    for box in _background_components(rgb, MIN_AREA):
        t, b, left, r = box
        inner = _background_components(np.ascontiguousarray(rgb[t:b, left:r]), 0.3)
        for it, ib, il, ir in inner:
            # Two levels down: a photo inside a message bubble inside a chat pane; the
            # bubble's own text (a time, a name) is trimmed off as lines mostly of its colour.
            # The block's outermost lines are often still the page (JPEG ringing at its edge),
            # so the bubble's colour is read RING_INSET lines in.
            y0, x0 = t + it + RING_INSET, left + il + RING_INSET
            sub = np.ascontiguousarray(rgb[y0 : t + ib - RING_INSET, x0 : left + ir - RING_INSET])
            if min(sub.shape[:2]) >= 32:
                for jt, jb, jl, jr in _background_components(sub, 0.5):
                    deep = _trim_container(sub, (jt, jb, jl, jr))
                    out.append((y0 + deep[0], y0 + deep[1], x0 + deep[2], x0 + deep[3]))
            out.append((t + it, t + ib, left + il, left + ir))
        out.append(box)
    found = []
    for box in out:
        t, b, left, r = box
        bh, bw = b - t, r - left
        if bh < MIN_SIDE_SHARE * h or bw < MIN_SIDE_SHARE * w or max(bh / bw, bw / bh) > MAX_ASPECT:
            continue
        if box not in found:
            found.append(box)
    return found[:MAX_BLOCKS]


def _trim_container(rgb: RGBArray, box: Box) -> Box:
    """The box without its outer lines that are mostly the container's colour (a caption)."""
    colour = page_colour(rgb)
    if colour is None:
        return box
    t, b, left, r = box
    same = np.abs(rgb[t:b, left:r].astype(np.int32) - colour).max(axis=2) <= BACKGROUND_TOLERANCE
    rows = np.flatnonzero(same.mean(axis=1) < CONTAINER_SHARE)
    cols = np.flatnonzero(same.mean(axis=0) < CONTAINER_SHARE)
    if len(rows) < (b - t) // 2 or len(cols) < (r - left) // 2:
        return box
    return t + int(rows[0]), t + int(rows[-1]) + 1, left + int(cols[0]), left + int(cols[-1]) + 1


def _page_lines(
    rgb: RGBArray, box: Box
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]] | None:
    """(rows, cols): which lines across the box's span are exactly the page colour."""
    colour = page_colour(rgb)
    if colour is None:
        return None
    t, b, left, r = box
    page = np.abs(rgb.astype(np.int32) - colour).max(axis=2) <= EXTEND_TOLERANCE
    return page[:, left:r].mean(axis=1) >= BORDER_SHARE, page[t:b].mean(axis=0) >= BORDER_SHARE


def grow_box(rgb: RGBArray, box: Box) -> Box | None:
    """The box with each side moved outward up to the first line of exactly the page colour.

    A dark photo's faint sky is flat to the XY-cut, which stops at its first stars, but it
    is not the page: JPEG noise and faint stars leave a few pixels of every line off the
    page colour, up to the photo's edge. None when no side moves.
    """
    lines = _page_lines(rgb, box)
    if lines is None:
        return None
    rows, cols = lines
    t, b, left, r = box
    max_v, max_h = round((b - t) * EXTEND_MAX), round((r - left) * EXTEND_MAX)

    def walk(lines: npt.NDArray[np.bool_], edge: int, step: int, most: int) -> int:
        k = edge
        while 0 <= k + step < len(lines) and not lines[k + step] and abs(k + step - edge) <= most:
            k += step
        return k if abs(k - edge) < most else edge  # no page line in reach: not a page

    out = (walk(rows, t, -1, max_v), walk(rows, b - 1, 1, max_v) + 1,
           walk(cols, left, -1, max_h), walk(cols, r - 1, 1, max_h) + 1)  # fmt: skip
    return out if out != box else None


def extend_box(rgb: RGBArray, box: Box) -> Box | None:
    """The box with each side moved outward over lines of exactly the page's colour.

    A dark photo's own black margins on a black app page look like the page, so the block
    found stops inside the photo; the photo ends somewhere in the page-coloured run, so the
    run's far end (the next UI element) is a guess that overshoots by a UI gap only. None
    when no side moves or there is no page colour.
    """
    lines = _page_lines(rgb, box)
    if lines is None:
        return None
    rows, cols = lines
    t, b, left, r = box
    max_v, max_h = round((b - t) * EXTEND_MAX), round((r - left) * EXTEND_MAX)

    def walk(lines: npt.NDArray[np.bool_], edge: int, step: int, most: int, gap: int) -> int:
        # The photo's faint edge (a fading sky) may lie between the box and the page run:
        # up to `gap` such lines are crossed if page lines follow.
        k = edge
        first = [j for j in range(1, gap + 1) if 0 <= edge + step * j < len(lines)
                 and lines[edge + step * j]]  # fmt: skip
        if not first:
            return edge
        k = edge + step * first[0]
        while 0 <= k + step < len(lines) and lines[k + step] and abs(k + step - edge) <= most:
            k += step
        return k

    gv, gh = round((b - t) * EXTEND_GAP), round((r - left) * EXTEND_GAP)
    out = (walk(rows, t, -1, max_v, gv), walk(rows, b - 1, 1, max_v, gv) + 1,
           walk(cols, left, -1, max_h, gh), walk(cols, r - 1, 1, max_h, gh) + 1)  # fmt: skip
    return out if out != box else None

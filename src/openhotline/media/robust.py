"""Query-side robustness: border trimming and dihedral variants of a query image.

Most banks hold imported hashes only, so robustness has to come from the query: each query
image yields a few labelled PDQ candidates (the image itself, its 8 rotations/mirrors, and
the same for the image with uniform borders trimmed). Candidates other than the plain hash
match at a tighter radius (`CANDIDATE_RADIUS_MARGIN` below the bank's), which
bench/robustness.py checks against a million unrelated pairs for false positives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from openhotline.media.decode import RGBArray
from openhotline.media.hashing import bits_to_hex
from openhotline.media.pdqfast import DIHEDRAL_NAMES, dihedral_pdq, pdq_from_rgb
from openhotline.media.regions import (
    Box,
    background_blocks,
    extend_box,
    find_regions,
    grow_box,
    inset_boxes,
    snap_box,
)

BORDER_TOLERANCE = 12  # max per-channel difference from the border colour
# A second, strict pass: a dark photo's own edge rows are within 12 of a black border, so
# the first pass trims into the photo; JPEG keeps a flat border within about 4.
STRICT_TOLERANCE = 4
# A third, exact pass at full resolution: a flat border's JPEG blocks decode within a level
# or so of one colour; a dark photo's edge has noise above that (see full_trim_candidates).
EXACT_TOLERANCE = 1
BORDER_MIN_SHARE = 0.98  # share of a line's pixels that must match the border colour
CANDIDATE_RADIUS_MARGIN = 0  # candidates match at bank radius minus this
UPSCALE_MAX_SIDE = 1024  # queries this small (larger side, pixels) may be halved copies
REFINED_REGIONS = 4  # the most photo-like regions also get snapped and inset variants


@dataclass(frozen=True)
class Candidate:
    """One PDQ hash to look up for a query image, and what it stands for."""

    label: str  # "pdq", "pdq:flip_h", "pdq:trim", "pdq:trim:rot90cw", ...
    pdq: str
    quality: int


def _uniform_run(
    lines: npt.NDArray[np.uint8], colour: npt.NDArray[np.int16], tolerance: int
) -> int:
    """How many leading lines (axis 0) are (nearly) all the border colour.

    Reads the lines in growing chunks: a border is a few lines, and a full-resolution
    image is too large to compare whole for each of its four sides.
    """
    start, step = 0, 8
    while start < len(lines):
        chunk = lines[start : start + step].astype(np.int16)
        ok = (np.abs(chunk - colour).max(axis=-1) <= tolerance).mean(axis=1) >= BORDER_MIN_SHARE
        bad = np.flatnonzero(~ok)
        if len(bad):
            return start + int(bad[0])
        start, step = start + len(chunk), step * 2
    return len(lines)


def trim_box(
    rgb: RGBArray, tolerance: int = BORDER_TOLERANCE, ring: bool = True
) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the content inside uniform borders, or None.

    ring: trim one more line on each trimmed side (a downscaled decode blends the border's
    edge into its first line of content; a full-resolution one does not).
    """
    h, w = rgb.shape[:2]
    if h < 16 or w < 16:
        return None
    a = rgb  # uint8: each side reads only the lines it needs
    corners = np.stack([a[0, 0], a[0, -1], a[-1, 0], a[-1, -1]]).astype(np.int16)
    colour = np.median(corners, axis=0).astype(np.int16)
    top = _uniform_run(a, colour, tolerance)
    if top >= h:
        return None  # a uniform image: nothing to trim to
    bottom = h - _uniform_run(a[::-1], colour, tolerance)
    left = _uniform_run(a.transpose(1, 0, 2), colour, tolerance)
    right = w - _uniform_run(a.transpose(1, 0, 2)[::-1], colour, tolerance)
    if top + (h - bottom) + left + (w - right) == 0:
        return None
    if ring:
        # One more line on each trimmed side: the edge of the border is blurred.
        top, left = top + (top > 0), left + (left > 0)
        bottom, right = bottom - (bottom < h), right - (right < w)
    if bottom - top < h * 0.3 or right - left < w * 0.3:
        return None  # would keep too little: probably not a border
    return top, bottom, left, right


def candidates(rgb: RGBArray, full_size: tuple[int, int], regions: bool = True) -> list[Candidate]:
    """Labelled PDQ candidates of an image (rgb may be a downscaled decode of full_size).

    The image and its 8 rotations/mirrors; the same with borders trimmed (at two
    tolerances, so that a dark or low-contrast photo inside a dark border is trimmed at
    its edge, not inside it; then made symmetric, and even on all four sides); and with
    regions, each embedded photo found by
    media/regions.py ("pdq:region1", ...), itself border-trimmed.
    """
    out: list[Candidate] = []
    out.extend(_dihedral(rgb, full_size, "pdq"))
    if max(full_size) <= UPSCALE_MAX_SIDE:
        # A halved copy: PDQ's box-filter window scales with the image's size, so the small
        # copy is blurred less than the original was; hashing the same pixels as standing
        # for an image twice the size uses the original's window (no resampling needed).
        bits, quality = pdq_from_rgb(rgb, 2 * full_size[0], 2 * full_size[1])
        out.append(Candidate("pdq:up2", bits_to_hex(bits), quality))
    boxes: list[Box] = []
    for tolerance, label in ((BORDER_TOLERANCE, "pdq:trim"), (STRICT_TOLERANCE, "pdq:trim2")):
        box = trim_box(rgb, tolerance)
        if box is not None and box not in boxes:
            boxes.append(box)
            out.extend(_dihedral(_sub(rgb, box), _sub_full(rgb, box, full_size), label))
    trims = list(boxes)
    for box, label in zip(trims, ("pdq:trim:sym", "pdq:trim2:sym"), strict=False):
        sym = symmetric_box(box, rgb.shape[0], rgb.shape[1])
        if sym not in boxes:
            boxes.append(sym)
            out.append(_hashed(rgb, sym, full_size, label))
    if trims:
        # A border on all four sides: the narrowest side is the border's width where the
        # photo's own edge is as dark as the border on the others (both opposite sides of a
        # night sky, which the symmetric trim cannot tell from the border).
        evens = even_boxes(trims[0], rgb.shape[0], rgb.shape[1])
        for even, name in zip(evens, ("eq", "prop"), strict=False):
            if even not in boxes:
                boxes.append(even)
                out.append(_hashed(rgb, even, full_size, f"pdq:trim:{name}"))
    if regions:
        for k, region in enumerate(find_regions(rgb), start=1):
            box = region.box
            sub = _sub(rgb, box)
            inner = trim_box(sub)
            if inner is not None:
                box = (box[0] + inner[0], box[0] + inner[1], box[2] + inner[2], box[2] + inner[3])
            out.append(_hashed(rgb, box, full_size, f"pdq:region{k}"))
            if k > REFINED_REGIONS:
                continue
            # The same block snapped outward over a dark photo's own flat margin, and
            # slightly inset (a few pixels of UI left in the block).
            seen = {box}
            snapped = snap_box(rgb, region.box)
            grown = _grown(rgb, box)
            for extra, name in (
                (snapped, "snap"),
                *grown,
                *((b, f"inset{i}") for i, b in enumerate(inset_boxes(box), start=1)),
            ):
                if extra not in seen:
                    seen.add(extra)
                    out.append(_hashed(rgb, extra, full_size, f"pdq:region{k}:{name}"))
        # Blocks set off from the page background by colour: a dark photo on a dark page
        # whose own flat margins the XY-cut takes for gutters.
        for k, box in enumerate(background_blocks(rgb), start=1):
            out.append(_hashed(rgb, box, full_size, f"pdq:block{k}"))
            for extra, name in _grown(rgb, box):
                if extra != box:
                    out.append(_hashed(rgb, extra, full_size, f"pdq:block{k}:{name}"))
    return out


def _grown(rgb: RGBArray, box: Box) -> list[tuple[Box, str]]:
    """A block grown over a dark photo's faint edge to the page ("grow"), then over the
    page to the next UI element ("extend"): the photo ends at one of the two."""
    out: list[tuple[Box, str]] = []
    grown = grow_box(rgb, box) or box
    if grown != box:
        out.append((grown, "grow"))
    extended = extend_box(rgb, grown)
    if extended is not None:
        out.append((extended, "extend"))
    return out


def symmetric_box(box: Box, h: int, w: int) -> Box:
    """A trim box made symmetric: each side trimmed by the smaller of the two opposite trims.

    Borders and letterbox bars are added evenly; a dark photo inside a dark border is
    trimmed into on the side where its own edge is dark, not on the other side.
    """
    top, bottom, left, right = box
    v, hz = min(top, h - bottom), min(left, w - right)
    return v, h - v, hz, w - hz


def full_trim_candidates(rgb: RGBArray) -> list[Candidate]:
    """Border trims of a full-resolution decode ("pdq:trim:full", "pdq:trim1:sym:full", ...).

    At full resolution the first line off the border colour is the photo's own first line
    (one line more moves a weak or textured photo's hash by 10-30 bits). Three tolerances:
    12 (a border after JPEG), 4, and 1: JPEG keeps a flat border's blocks within a level or
    so, while a dark photo's edge has noise (faint stars, grain) above that, so the exact
    pass stops at the photo's edge where the others run into a night sky as dark as the
    border. Each trim is also made symmetric and even (a dark edge on some sides only).
    """
    h, w = rgb.shape[:2]
    out: list[Candidate] = []
    seen: set[Box] = set()
    for tolerance, name, kinds in (
        (BORDER_TOLERANCE, "trim", ("", "eq")),
        (STRICT_TOLERANCE, "trim2", ("sym", "eq")),
        (EXACT_TOLERANCE, "trim1", ("", "sym", "eq")),
    ):
        box = trim_box(rgb, tolerance, ring=False)
        if box is None:
            continue
        evens = even_boxes(box, h, w)
        shapes = {"": box, "sym": symmetric_box(box, h, w), "eq": evens[0] if evens else box}
        for k in kinds:
            if shapes[k] not in seen:
                seen.add(shapes[k])
                label = f"pdq:{name}:{k}:full" if k else f"pdq:{name}:full"
                out.append(_hashed(rgb, shapes[k], (w, h), label))
    return out


def even_boxes(box: Box, h: int, w: int) -> list[Box]:
    """A trim box made even on all four sides: (equal width, equal share of each side).

    Tools add a border of one width on every side (in pixels, or as a share of the image's
    width and height); the narrowest of the four trims is that width when the photo's own
    edge is dark on the other sides. Empty unless every side was trimmed (not a border).
    """
    top, bottom, left, right = box
    sides = (top, h - bottom, left, w - right)
    if min(sides) <= 0:
        return []
    px = min(sides)
    share = min(top / h, (h - bottom) / h, left / w, (w - right) / w)
    v, hz = max(1, round(share * h)), max(1, round(share * w))
    return [(px, h - px, px, w - px), (v, h - v, hz, w - hz)]


def _hashed(rgb: RGBArray, box: Box, full_size: tuple[int, int], label: str) -> Candidate:
    bits, quality = pdq_coefficients_bits(_sub(rgb, box), _sub_full(rgb, box, full_size))
    return Candidate(label, bits, quality)


def _sub(rgb: RGBArray, box: tuple[int, int, int, int]) -> RGBArray:
    top, bottom, left, right = box
    return np.ascontiguousarray(rgb[top:bottom, left:right])


def _sub_full(
    rgb: RGBArray, box: tuple[int, int, int, int], full_size: tuple[int, int]
) -> tuple[int, int]:
    """Full-resolution size of a box of a (possibly downscaled) decode."""
    h, w = rgb.shape[:2]
    top, bottom, left, right = box
    sx, sy = full_size[0] / w, full_size[1] / h
    return max(1, round((right - left) * sx)), max(1, round((bottom - top) * sy))


def _with_edges(rgb: RGBArray, left: float, top: float, right: float, bottom: float) -> RGBArray:
    """Extend the image by the given fractions of its size, repeating its edge pixels."""
    h, w = rgb.shape[:2]
    pads = ((round(top * h), round(bottom * h)), (round(left * w), round(right * w)), (0, 0))
    return np.pad(rgb, pads, mode="edge")


def _rotated(rgb: RGBArray, degrees: float) -> RGBArray:
    """Rotate about the centre, same size, black corners (as a rotated copy would have)."""
    img = Image.fromarray(rgb).rotate(degrees, resample=Image.Resampling.BILINEAR)
    return np.asarray(img)


# (label, transform) pairs: "uncrop" guesses extend a crop back to the original's frame; "rot"
# undoes a small rotation. The original's pixels are unknown, so these are approximations.
GEOMETRIC: tuple[tuple[str, Callable[[RGBArray], RGBArray]], ...] = (
    ("uncrop5", lambda a: _with_edges(a, 1 / 18, 1 / 18, 1 / 18, 1 / 18)),
    ("uncrop10:tl", lambda a: _with_edges(a, 0, 0, 1 / 9, 1 / 9)),
    ("uncrop10:tr", lambda a: _with_edges(a, 1 / 9, 0, 0, 1 / 9)),
    ("uncrop10:bl", lambda a: _with_edges(a, 0, 1 / 9, 1 / 9, 0)),
    ("uncrop10:br", lambda a: _with_edges(a, 1 / 9, 1 / 9, 0, 0)),
    ("rot-5", lambda a: _rotated(a, -5)),
    ("rot+5", lambda a: _rotated(a, 5)),
)

# Stored variants of our own confirmed items: the same crops and rotations, applied to the
# item, so that a cropped or rotated copy's plain hash lands near one of them.
STORED: tuple[tuple[str, Callable[[RGBArray], RGBArray]], ...] = (
    ("crop5", lambda a: _crop(a, 0.05, 0.05, 0.05, 0.05)),
    ("crop10:tl", lambda a: _crop(a, 0, 0, 0.1, 0.1)),
    ("crop10:tr", lambda a: _crop(a, 0.1, 0, 0, 0.1)),
    ("crop10:bl", lambda a: _crop(a, 0, 0.1, 0.1, 0)),
    ("crop10:br", lambda a: _crop(a, 0.1, 0.1, 0, 0)),
    ("rot-5", lambda a: _rotated(a, -5)),
    ("rot+5", lambda a: _rotated(a, 5)),
)


def _crop(rgb: RGBArray, left: float, top: float, right: float, bottom: float) -> RGBArray:
    h, w = rgb.shape[:2]
    return np.ascontiguousarray(
        rgb[round(top * h) : h - round(bottom * h), round(left * w) : w - round(right * w)]
    )


def _transformed(
    rgb: RGBArray,
    full_size: tuple[int, int],
    prefix: str,
    table: tuple[tuple[str, Callable[[RGBArray], RGBArray]], ...],
) -> list[Candidate]:
    h, w = rgb.shape[:2]
    sx, sy = full_size[0] / w, full_size[1] / h
    out = []
    for name, fn in table:
        t = fn(rgb)
        full = (max(1, round(t.shape[1] * sx)), max(1, round(t.shape[0] * sy)))
        bits, quality = pdq_coefficients_bits(t, full)
        out.append(Candidate(f"{prefix}:{name}", bits, quality))
    return out


def pdq_coefficients_bits(rgb: RGBArray, full: tuple[int, int]) -> tuple[str, int]:
    """PDQ hex and quality of an array standing for an image of size full (w, h)."""
    bits, quality = pdq_from_rgb(rgb, full[0], full[1])
    return bits_to_hex(bits), quality


def geometric_candidates(rgb: RGBArray, full_size: tuple[int, int]) -> list[Candidate]:
    """Query-side guesses for crops and small rotations (matched at a tighter radius)."""
    return _transformed(rgb, full_size, "pdq", GEOMETRIC)


def stored_variants(rgb: RGBArray, full_size: tuple[int, int]) -> list[Candidate]:
    """Extra hashes to store for an own confirmed item (crops, small rotations)."""
    return _transformed(rgb, full_size, "variant", STORED)


def _dihedral(rgb: RGBArray, full_size: tuple[int, int], prefix: str) -> list[Candidate]:
    out = []
    variants = dihedral_pdq(rgb, full_size[0], full_size[1])
    for name, (bits, quality) in zip(DIHEDRAL_NAMES, variants, strict=True):
        label = prefix if name == "identity" else f"{prefix}:{name}"
        out.append(Candidate(label, bits_to_hex(bits), quality))
    return out

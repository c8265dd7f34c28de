"""Query-side robustness: border trimming and dihedral variants of a query image.

Most banks hold imported hashes only, so robustness has to come from the query: each query
image yields a few labelled PDQ candidates (the image itself, its 8 rotations/mirrors, and
the same for the image with uniform borders trimmed). Candidates other than the plain hash
match at a tighter radius (`CANDIDATE_RADIUS_MARGIN` below the bank's), which
bench/robustness.py checks against a million unrelated pairs for false positives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from openhotline.media.decode import RGBArray
from openhotline.media.hashing import bits_to_hex
from openhotline.media.pdqfast import DIHEDRAL_NAMES, dihedral_pdq

BORDER_TOLERANCE = 12  # max per-channel difference from the border colour
BORDER_MIN_SHARE = 0.98  # share of a line's pixels that must match the border colour
CANDIDATE_RADIUS_MARGIN = 0  # candidates match at bank radius minus this


@dataclass(frozen=True)
class Candidate:
    """One PDQ hash to look up for a query image, and what it stands for."""

    label: str  # "pdq", "pdq:flip_h", "pdq:trim", "pdq:trim:rot90cw", ...
    pdq: str
    quality: int


def _uniform_run(lines: npt.NDArray[np.int16], colour: npt.NDArray[np.int16]) -> int:
    """How many leading lines (axis 0) are (nearly) all the border colour."""
    diff = np.abs(lines - colour).max(axis=-1) <= BORDER_TOLERANCE
    ok = diff.mean(axis=1) >= BORDER_MIN_SHARE
    bad = np.flatnonzero(~ok)
    return int(bad[0]) if len(bad) else len(ok)


def trim_box(rgb: RGBArray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the content inside uniform borders, or None."""
    h, w = rgb.shape[:2]
    if h < 16 or w < 16:
        return None
    a = rgb.astype(np.int16)
    corners = np.stack([a[0, 0], a[0, -1], a[-1, 0], a[-1, -1]])
    colour = np.median(corners, axis=0).astype(np.int16)
    top = _uniform_run(a, colour)
    if top >= h:
        return None  # a uniform image: nothing to trim to
    bottom = h - _uniform_run(a[::-1], colour)
    left = _uniform_run(a.transpose(1, 0, 2), colour)
    right = w - _uniform_run(a.transpose(1, 0, 2)[::-1], colour)
    if top + (h - bottom) + left + (w - right) == 0:
        return None
    # One more line on each trimmed side: JPEG ringing blurs the edge of the border.
    top, left = top + (top > 0), left + (left > 0)
    bottom, right = bottom - (bottom < h), right - (right < w)
    if bottom - top < h * 0.3 or right - left < w * 0.3:
        return None  # would keep too little: probably not a border
    return top, bottom, left, right


def candidates(rgb: RGBArray, full_size: tuple[int, int]) -> list[Candidate]:
    """Labelled PDQ candidates of an image (rgb may be a downscaled decode of full_size)."""
    out: list[Candidate] = []
    out.extend(_dihedral(rgb, full_size, "pdq"))
    box = trim_box(rgb)
    if box is not None:
        top, bottom, left, right = box
        h, w = rgb.shape[:2]
        sx, sy = full_size[0] / w, full_size[1] / h
        inner = np.ascontiguousarray(rgb[top:bottom, left:right])
        inner_full = (max(1, round(inner.shape[1] * sx)), max(1, round(inner.shape[0] * sy)))
        out.extend(_dihedral(inner, inner_full, "pdq:trim"))
    return out


def _dihedral(rgb: RGBArray, full_size: tuple[int, int], prefix: str) -> list[Candidate]:
    out = []
    variants = dihedral_pdq(rgb, full_size[0], full_size[1])
    for name, (bits, quality) in zip(DIHEDRAL_NAMES, variants, strict=True):
        label = prefix if name == "identity" else f"{prefix}:{name}"
        out.append(Candidate(label, bits_to_hex(bits), quality))
    return out

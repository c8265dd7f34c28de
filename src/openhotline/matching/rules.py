"""Which PDQ query candidates may match, and at what distance (one rule for matcher and bench).

A query image yields labelled candidates (media/robust.py, media/regions.py). The plain hash
("pdq") matches at the bank's radius. Other candidates stand for guesses about how the image
was changed, so each extra guess is another chance for an unrelated image to land near a
bank entry: they match at the bank radius minus a margin. PDQ's quality gate (below 50 the
hash says little) applies to candidates only as a tighter radius, never as a refusal of an
identical hash: a weak hash at distance 0 is the same picture, and bench/robustness.py
measures the false positives of the tight radius.
"""

from __future__ import annotations

from openhotline.media.hashing import WEAK_QUALITY

WEAK_RADIUS = 0  # a weak hash (quality < 50) only matches an identical bank hash


def max_distance(label: str, quality: int | None, radius: int, margin: int = 0) -> int:
    """Largest distance at which this candidate counts as a match (-1: never)."""
    if quality is not None and quality < WEAK_QUALITY:
        return min(WEAK_RADIUS, radius)
    if ":" in label:
        return radius - margin
    return radius


_PARTS = {
    "trim": "border trimmed",
    "trim2": "border trimmed (strict)",
    "full": "full resolution",
    "rot90cw": "rotated 90 clockwise",
    "rot180": "rotated 180",
    "rot90ccw": "rotated 90 anticlockwise",
    "flip_h": "mirrored",
    "flip_v": "flipped vertically",
    "transpose": "transposed",
    "antitranspose": "anti-transposed",
    "rot-5": "rotation guess (-5 degrees)",
    "rot+5": "rotation guess (+5 degrees)",
    "uncrop5": "crop guess (5% per side)",
}
_CORNERS = {"tl": "top left", "tr": "top right", "bl": "bottom left", "br": "bottom right"}


def describe(label: str, inliers: int | None = None) -> str:
    """Words for a query label: "pdq:region2" -> "PDQ, embedded region 2"."""
    if label == "features" or label.startswith("features:"):
        return f"local features, {inliers} inliers"
    head, *parts = label.split(":")
    words = [head.upper()]
    i = 0
    while i < len(parts):
        p = parts[i]
        if p.startswith("region") and p[6:].isdigit():
            words.append(f"embedded region {p[6:]}")
        elif p.startswith("frame") and p[5:].isdigit():
            words.append(f"animation frame {p[5:]}")
        elif p == "uncrop10" and i + 1 < len(parts) and parts[i + 1] in _CORNERS:
            words.append(f"crop guess (10%, {_CORNERS[parts[i + 1]]})")
            i += 1
        else:
            words.append(_PARTS.get(p, p))
        i += 1
    return ", ".join(words)

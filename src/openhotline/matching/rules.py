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

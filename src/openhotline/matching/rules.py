"""Which PDQ query candidates may match, and at what distance (one rule for matcher and bench).

A query image yields labelled candidates (media/robust.py, media/regions.py). The image's
own hash and its rotations/mirrors match at the bank's radius, weak or not: PDQ's quality
gate (below 50 the hash says little) must never lose a match that plain PDQ finds. Other
candidates stand for guesses about how the image was changed, so each extra guess is
another chance for an unrelated image to land near a bank entry: they match at the bank
radius minus a margin, and when the image is weak only its cuts match, within a few bits.
"""

from __future__ import annotations

from openhotline.media.hashing import WEAK_QUALITY

WEAK_RADIUS = 0  # a guessed candidate (crop guess, halved copy) of a weak image: identical only
# A weak image's cuts (border trims, embedded regions, page-background blocks) are its own
# pixels, a few bits off the original only where the cut's edge is off by a line or two
# (measured 2-8 bits on the bench's dark and flat photos). bench/robustness.py reports the
# closest unrelated pair per candidate kind: 28 bits or more for weak cuts, none within 16,
# over 8.7M unrelated pairs (decoys of the same dark photos included; bench/RESULTS.md
# section 3, follow-up 3), so 8 keeps a margin of 20 bits.
WEAK_CUT_RADIUS = 8
_CUTS = ("trim", "region", "block")

# The image's own hash, the same at full resolution, and its 8 rotations/mirrors: what
# plain and dihedral PDQ compare, so these match at the bank radius whatever their quality
# (openhotline is never worse than dihedral PDQ; bench/robustness.py counts the false
# positives this costs over millions of unrelated pairs).
_WHOLE = {"pdq", "pdq:full"} | {
    f"pdq:{n}" for n in ("rot90cw", "rot180", "rot90ccw", "flip_h", "flip_v", "transpose",
                         "antitranspose")
}  # fmt: skip


def max_distance(label: str, quality: int | None, radius: int, margin: int = 0) -> int:
    """Largest distance at which this candidate counts as a match (-1: never).

    The whole image's hashes match at the bank radius; other candidates at the radius
    minus margin. A weak image (quality < 50) has a hash that says little, so its cuts
    (trimmed, regions, blocks) match only within WEAK_CUT_RADIUS and its other guesses
    (crop guesses, halved copy) only an identical bank hash.
    """
    if label == "pdq":
        return radius
    if quality is not None and quality < WEAK_QUALITY and label not in _WHOLE:
        parts = label.split(":")
        if len(parts) > 1 and parts[1].startswith(_CUTS):
            return min(WEAK_CUT_RADIUS, radius - margin)
        return min(WEAK_RADIUS, radius)
    if label in _WHOLE:
        return radius
    return radius - margin


_PARTS = {
    "trim": "border trimmed",
    "trim2": "border trimmed (strict)",
    "trim1": "border trimmed (exact colour)",
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
    "sym": "symmetric",
    "eq": "equal width on every side",
    "prop": "equal share of every side",
    "snap": "edges snapped to the page",
    "inset1": "inset 1%",
    "inset2": "inset 2.5%",
    "up2": "hashed as a halved copy of a twice larger image",
    "grow": "grown over a dark edge to the page",
    "extend": "extended over the page to the next UI element",
}
_CORNERS = {"tl": "top left", "tr": "top right", "bl": "bottom left", "br": "bottom right"}


def describe(label: str, inliers: int | None = None) -> str:
    """Words for a query label: "pdq:region2" -> "PDQ, embedded region 2"."""
    if label.startswith("vPDQ"):  # already words: "vPDQ, 87% of frames"
        return label
    if label == "features" or label.startswith("features:"):
        return f"local features, {inliers} inliers"
    head, *parts = label.split(":")
    words = [head.upper()]
    i = 0
    while i < len(parts):
        p = parts[i]
        if p.startswith("region") and p[6:].isdigit():
            words.append(f"embedded region {p[6:]}")
        elif p.startswith("block") and p[5:].isdigit():
            words.append(f"block on the page background {p[5:]}")
        elif p.startswith("frame") and p[5:].isdigit():
            words.append(f"animation frame {p[5:]}")
        elif p == "uncrop10" and i + 1 < len(parts) and parts[i + 1] in _CORNERS:
            words.append(f"crop guess (10%, {_CORNERS[parts[i + 1]]})")
            i += 1
        else:
            words.append(_PARTS.get(p, p))
        i += 1
    return ", ".join(words)

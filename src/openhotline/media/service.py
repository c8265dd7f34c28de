"""Media use cases: hash an uploaded file, and build the query candidates for matching."""

from __future__ import annotations

from dataclasses import dataclass

from openhotline.media.decode import Limits, decode
from openhotline.media.hashing import FAST_MIN_SIDE, MediaHashes, hash_decoded, pdq_of_array
from openhotline.media.robust import (
    Candidate,
    candidates,
    full_trim_candidates,
    geometric_candidates,
    stored_variants,
    trim_box,
)


@dataclass
class QueryImage:
    """An image's hashes plus the PDQ candidates to look up for it."""

    hashes: MediaHashes
    candidates: list[Candidate]


def hash_file(data: bytes, limits: Limits | None = None) -> MediaHashes:
    """Hash an image file (raises MediaError subclasses for bad input)."""
    img = decode(data, limits, min_side=FAST_MIN_SIDE, all_frames=True)
    return hash_decoded(data, img)


def query_image(
    data: bytes,
    limits: Limits | None = None,
    robust: bool = True,
    geometric: bool = True,
    regions: bool = True,
) -> QueryImage:
    """Hash an image and list its PDQ query candidates.

    robust: the 8 rotations/mirrors, and the same with uniform borders trimmed; geometric:
    guesses that undo crops and small rotations; regions: embedded photos in screenshots,
    collages and captioned images (bench/robustness.py measures all three).
    """
    img = decode(data, limits, min_side=FAST_MIN_SIDE, all_frames=True)
    hashes = hash_decoded(data, img)
    if robust:
        cands = candidates(img.frames[0], (img.width, img.height), regions=regions)
        cands[0] = Candidate("pdq", hashes.pdq, hashes.pdq_quality)
        if geometric:
            cands.extend(geometric_candidates(img.frames[0], (img.width, img.height)))
    else:
        cands = [Candidate("pdq", hashes.pdq, hashes.pdq_quality)]
    small = (img.frames[0].shape[1], img.frames[0].shape[0]) != (img.width, img.height)
    full = None
    if hashes.weak and small:
        # A weak hash only matches an identical bank hash (matching/rules.py), and the fast
        # path is a few bits off full resolution, so a weak image is hashed at full size too.
        full = decode(data, limits, min_side=None)
        pdq, quality = pdq_of_array(full.frames[0])
        cands.append(Candidate("pdq:full", pdq, quality))
    if robust and trim_box(img.frames[0]) is not None:
        # A border's edge falls between two pixels of the downscaled decode: a trim off by
        # one full-resolution line moves a textured or weak photo's hash by 14-32 bits, so
        # a bordered image is trimmed again at full resolution, without the extra line a
        # small decode needs (an image decoded at full size already is trimmed again too:
        # its first trims took that extra line).
        if small:
            full = full or decode(data, limits, min_side=None)
        cands.extend(full_trim_candidates(full.frames[0] if full else img.frames[0]))
    frames = zip(hashes.frame_pdqs, hashes.frame_qualities, strict=True)
    cands.extend(Candidate(f"pdq:frame{i + 1}", h, q) for i, (h, q) in enumerate(frames))
    return QueryImage(hashes, cands)


def item_variants(data: bytes, limits: Limits | None = None) -> tuple[MediaHashes, list[Candidate]]:
    """Hashes of an own confirmed item plus the crop/rotation variants worth storing."""
    img = decode(data, limits, min_side=FAST_MIN_SIDE, all_frames=True)
    return hash_decoded(data, img), stored_variants(img.frames[0], (img.width, img.height))

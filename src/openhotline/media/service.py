"""Media use cases: hash an uploaded file, and build the query candidates for matching."""

from __future__ import annotations

from dataclasses import dataclass

from openhotline.media.decode import Limits, decode
from openhotline.media.hashing import FAST_MIN_SIDE, MediaHashes, hash_decoded
from openhotline.media.robust import Candidate, candidates


@dataclass
class QueryImage:
    """An image's hashes plus the PDQ candidates to look up for it."""

    hashes: MediaHashes
    candidates: list[Candidate]


def hash_file(data: bytes, limits: Limits | None = None) -> MediaHashes:
    """Hash an image file (raises MediaError subclasses for bad input)."""
    img = decode(data, limits, min_side=FAST_MIN_SIDE, all_frames=True)
    return hash_decoded(data, img)


def query_image(data: bytes, limits: Limits | None = None, robust: bool = True) -> QueryImage:
    """Hash an image and list its PDQ query candidates (dihedral, trimmed) when robust."""
    img = decode(data, limits, min_side=FAST_MIN_SIDE, all_frames=True)
    hashes = hash_decoded(data, img)
    if robust:
        cands = candidates(img.frames[0], (img.width, img.height))
        cands[0] = Candidate("pdq", hashes.pdq, hashes.pdq_quality)
    else:
        cands = [Candidate("pdq", hashes.pdq, hashes.pdq_quality)]
    frames = zip(hashes.frame_pdqs, hashes.frame_qualities, strict=True)
    cands.extend(Candidate(f"pdq:frame{i + 1}", h, q) for i, (h, q) in enumerate(frames))
    return QueryImage(hashes, cands)

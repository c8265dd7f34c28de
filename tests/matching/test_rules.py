"""The acceptance rule shared by the matcher and bench/robustness.py."""

from __future__ import annotations

from openhotline.matching.rules import WEAK_CUT_RADIUS, WEAK_RADIUS, describe, max_distance


def test_plain_candidates_and_weak_hashes() -> None:
    assert max_distance("pdq", 90, 31) == 31
    assert max_distance("pdq", None, 31) == 31  # a bare hash from a partner: quality unknown
    assert max_distance("pdq:region2", 90, 31, margin=4) == 27
    # A weak image's own hashes are never lost to the quality gate (plain PDQ would match);
    # its cuts match within a few bits, its other guesses only an identical bank hash.
    assert max_distance("pdq", 10, 31) == max_distance("pdq:full", 10, 31) == 31
    assert max_distance("pdq:flip_h", 10, 31) == 31
    assert max_distance("pdq:trim", 10, 31) == max_distance("pdq:region1", 10, 31) == 8
    assert max_distance("pdq:uncrop5", 10, 31) == max_distance("pdq:rot+5", 10, 31) == 0
    assert WEAK_RADIUS == 0 and WEAK_CUT_RADIUS == 8


def test_weak_cuts_match_within_a_few_bits_and_never_beyond_the_bank_radius() -> None:
    # Border trims (any tolerance, symmetric, even, rotated), regions and blocks with their
    # refinements are the image's own pixels; crop guesses, rotation guesses, the halved
    # copy and animation frames are not cuts.
    for label in (
        "pdq:trim",
        "pdq:trim2:sym",
        "pdq:trim:eq",
        "pdq:trim:rot90cw",
        "pdq:region3:snap",
        "pdq:region1:inset2",
        "pdq:block2",
        "pdq:block1:grow",
    ):
        assert max_distance(label, 42, 31) == WEAK_CUT_RADIUS, label
    for label in ("pdq:up2", "pdq:uncrop10:tl", "pdq:rot-5", "pdq:frame2"):
        assert max_distance(label, 42, 31) == 0, label
    # A bank radius or margin tighter than the tolerance wins.
    assert max_distance("pdq:trim", 42, 5) == 5
    assert max_distance("pdq:region1", 42, 31, margin=28) == 3


def test_descriptions_say_which_candidate_matched() -> None:
    assert describe("pdq") == "PDQ"
    assert describe("md5") == "MD5"
    assert describe("pdq:region2") == "PDQ, embedded region 2"
    assert describe("pdq:trim") == "PDQ, border trimmed"
    assert describe("pdq:trim:rot90cw") == "PDQ, border trimmed, rotated 90 clockwise"
    assert describe("pdq:flip_h") == "PDQ, mirrored"
    assert describe("pdq:uncrop10:tl") == "PDQ, crop guess (10%, top left)"
    assert describe("features", 143) == "local features, 143 inliers"


def test_new_candidates_are_guesses_for_the_weak_gate_and_are_described() -> None:
    # up2 (halved copy), grow and extend are guesses: a weak image's halved copy only
    # matches an identical bank hash, its grown and extended blocks (cuts) within a few
    # bits; a strong image's match at the bank radius like the other guesses.
    for label in ("pdq:up2", "pdq:region1:grow", "pdq:block2:extend"):
        assert max_distance(label, 42, 31) == (0 if label == "pdq:up2" else WEAK_CUT_RADIUS)
        assert max_distance(label, 80, 31) == 31
    assert describe("pdq:block2:extend") == (
        "PDQ, block on the page background 2, extended over the page to the next UI element"
    )
    assert describe("pdq:up2") == "PDQ, hashed as a halved copy of a twice larger image"

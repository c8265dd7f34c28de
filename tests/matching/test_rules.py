"""The acceptance rule shared by the matcher and bench/robustness.py."""

from __future__ import annotations

from openhotline.matching.rules import WEAK_RADIUS, describe, max_distance


def test_plain_candidates_and_weak_hashes() -> None:
    assert max_distance("pdq", 90, 31) == 31
    assert max_distance("pdq", None, 31) == 31  # a bare hash from a partner: quality unknown
    assert max_distance("pdq:region2", 90, 31, margin=4) == 27
    # A weak image's own hashes are never lost to the quality gate (plain PDQ would match);
    # guesses made from a weak image only match an identical bank hash.
    assert max_distance("pdq", 10, 31) == max_distance("pdq:full", 10, 31) == 31
    assert max_distance("pdq:flip_h", 10, 31) == 31
    assert max_distance("pdq:trim", 10, 31) == max_distance("pdq:region1", 10, 31) == 0
    assert WEAK_RADIUS == 0


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
    # up2 (halved copy), grow and extend are guesses: a weak image's only match identical
    # bank hashes; a strong image's match at the bank radius like the other guesses.
    for label in ("pdq:up2", "pdq:region1:grow", "pdq:block2:extend"):
        assert max_distance(label, 42, 31) == 0
        assert max_distance(label, 80, 31) == 31
    assert describe("pdq:block2:extend") == (
        "PDQ, block on the page background 2, extended over the page to the next UI element"
    )
    assert describe("pdq:up2") == "PDQ, hashed as a halved copy of a twice larger image"

"""The PDQ multi-index against brute force: recall 1.0, adds, removes, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from openhotline.matching import kernels
from openhotline.matching.index import (
    Layout,
    PDQIndex,
    Segment,
    hex_to_words,
    words_to_hex,
)


def _random(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2**64 - 1, size=(n, 4), dtype=np.uint64, endpoint=True)


def _flip(q: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    q = q.copy()
    for b in rng.choice(256, size=k, replace=False):
        q[b // 64] ^= np.uint64(1) << np.uint64(63 - b % 64)
    return q


def _clustered(n: int, seed: int) -> np.ndarray:
    """Hashes in tight clusters (near-duplicates), the hard case for bucket sizes."""
    rng = np.random.default_rng(seed)
    centres = _random(max(1, n // 50), seed + 1)
    out = np.empty((n, 4), dtype=np.uint64)
    for i in range(n):
        out[i] = _flip(centres[i % len(centres)], int(rng.integers(0, 40)), rng)
    return out


def _brute(h: np.ndarray, ids: np.ndarray, alive: np.ndarray, q: np.ndarray, r: int) -> list:
    pos, dist = kernels.brute_force(q, h, alive, r)
    return sorted(zip(ids[pos].tolist(), dist.tolist(), strict=True), key=lambda x: (x[1], x[0]))


@pytest.mark.parametrize(
    ("n", "layout", "maker"),
    [
        (3000, None, _random),  # brute-force segment
        (6000, None, _random),  # auto layout
        (6000, Layout.with_tables(11, 16), _random),  # directory shorter than substrings
        (6000, Layout.with_tables(16), _clustered),
        (6000, Layout.with_tables(9, 21), _clustered),
    ],
)
def test_recall_matches_brute_force(n: int, layout: Layout | None, maker) -> None:
    h = maker(n, 7)
    ids = np.arange(n, dtype=np.int64) * 5 + 3
    index = PDQIndex.build(h, ids, layout)
    alive = np.ones(n, dtype=bool)
    rng = np.random.default_rng(1)
    for radius in (0, 8, 31, 45):
        for _ in range(25):
            q = _flip(h[rng.integers(n)], int(rng.integers(0, radius + 6)), rng)
            assert index.search(q, radius) == _brute(h, ids, alive, q, radius)
    queries = np.stack([_flip(h[i], 10, rng) for i in range(40)])
    batch = index.search_batch(queries, 31)
    for q, got in zip(queries, batch, strict=True):
        assert got == _brute(h, ids, alive, q, 31)


def test_pigeonhole_radii_cover_the_radius() -> None:
    for m in (8, 11, 12, 16, 20, 32):
        layout = Layout.with_tables(m, 32)
        for radius in (0, 1, 10, 31, 63):
            assert int((layout.radii(radius) + 1).sum()) >= radius + 1


def test_every_flip_mask_is_enumerated_once() -> None:
    masks = kernels.flip_masks(10, 3)
    assert len(masks) == len(set(masks.tolist())) == 1 + 10 + 45 + 120
    assert max(bin(int(m)).count("1") for m in masks) == 3


def test_add_remove_visible_at_once_and_compaction() -> None:
    h = _random(5000, 3)
    ids = np.arange(5000, dtype=np.int64)
    index = PDQIndex.build(h[:4000], ids[:4000])
    index.add(h[4000:], ids[4000:])
    assert index.search(h[4500], 0) == [(4500, 0)]
    assert index.remove([10, 4500, 999_999]) == 2
    assert index.search(h[10], 0) == []
    assert index.search(h[4500], 0) == []
    assert len(index) == 4998
    alive = np.ones(5000, dtype=bool)
    alive[[10, 4500]] = False
    rng = np.random.default_rng(2)
    queries = [_flip(h[i], 12, rng) for i in (10, 11, 4500, 4501)]
    before = [index.search(q, 31) for q in queries]
    assert before == [_brute(h, ids, alive, q, 31) for q in queries]
    index.compact()
    assert len(index.segments) == 1 and index.delta_size() == 0
    assert index.dead_fraction() == 0.0
    assert [index.search(q, 31) for q in queries] == before


def test_persistence_round_trip(tmp_path: Path) -> None:
    h = _random(5000, 4)
    ids = np.arange(5000, dtype=np.int64) + 100
    index = PDQIndex.build(h, ids)
    index.remove([105])
    index.add(_random(3, 9), [1, 2, 3])
    index.save(tmp_path / "idx", stamp="abc")
    loaded, stamp = PDQIndex.load(tmp_path / "idx")
    assert stamp == "abc"
    assert len(loaded) == 5002
    assert loaded.search(h[5], 0) == []
    assert loaded.search(h[6], 0) == [(106, 0)]
    loaded.remove([106])  # memory-mapped tables stay usable for tombstones
    assert loaded.search(h[6], 0) == []
    assert not list(tmp_path.glob("*.npy"))  # no pickles, only .npy inside the folder
    assert all(p.suffix in (".npy", ".json") for p in (tmp_path / "idx").rglob("*.*"))


def test_segment_refuses_oversized_layout() -> None:
    with pytest.raises(ValueError, match="32 bits"):
        Layout.with_tables(7)
    with pytest.raises(ValueError, match="directory"):
        Segment.build(_random(10, 1), np.arange(10), Layout.with_tables(8, 12))


def test_hex_round_trip() -> None:
    hexes = ["0" * 63 + "1", "f" * 64, "8" + "0" * 63]
    words = hex_to_words(hexes)
    assert words[0].tolist() == [0, 0, 0, 1]
    assert words[2, 0] == np.uint64(1 << 63)
    assert words_to_hex(words) == hexes
    with pytest.raises(ValueError):
        hex_to_words(["abc"])

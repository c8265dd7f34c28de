"""bench/feature_banks.py: the synthetic banks that bench/features.py --scale times the
local-feature index on (distinct items must be distinct, and keep the real key bias)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
import feature_banks  # a benchmark module, not part of the package

_POP = np.asarray([bin(v).count("1") for v in range(256)], np.int64)


def _biased_pool(rng: np.random.Generator, items: int, per_item: int) -> Any:
    """Descriptors with biased bits (each bit 1 with its own probability, 0.05-0.95), like
    ORB's, and a tenth of all rows near one flat-patch descriptor."""
    p = rng.uniform(0.05, 0.95, 256)
    bits = rng.random((items * per_item, 256)) < p
    flat = rng.random(len(bits)) < 0.1
    bits[flat] = rng.random((int(flat.sum()), 256)) < 0.02
    desc = np.packbits(bits, axis=1)
    pts = rng.integers(0, 640, (len(desc), 2)).astype(np.uint16)
    return [
        (pts[i * per_item : (i + 1) * per_item], desc[i * per_item : (i + 1) * per_item])
        for i in range(items)
    ]


def _cross_item_neighbours(desc: npt.NDArray[np.uint8], counts: Any, radius: int) -> float:
    """Share of rows with a row of another item within radius (brute force, in blocks)."""
    owner = np.repeat(np.arange(len(counts)), counts)
    hit = 0
    for lo in range(0, len(desc), 256):
        d = _POP[desc[lo : lo + 256, None, :] ^ desc[None, :, :]].sum(axis=2)
        d[owner[lo : lo + 256, None] == owner[None, :]] = 999
        hit += int((d.min(axis=1) <= radius).sum())
    return hit / len(desc)


def _top16_share(desc: npt.NDArray[np.uint8], table: int) -> float:
    top = desc[:, 3 * table].astype(np.int64) << 8 | desc[:, 3 * table + 1]
    return float(np.bincount(top, minlength=65536).max() / len(desc))


def test_distinct_items_share_no_descriptor_but_keep_the_key_bias() -> None:
    rng = np.random.default_rng(4)
    pool = _biased_pool(rng, 30, 40)
    head = pool[:3]
    ids, counts, pts, desc = feature_banks.distinct(pool, 60, head=head)
    assert ids.tolist() == list(range(63)) and len(desc) == counts.sum() == len(pts)
    at = sum(len(d) for _, d in head)
    assert (desc[:at] == np.concatenate([d for _, d in head])).all()
    gen = np.asarray(desc[at:])
    # Distinct: hardly any generated row has another item's row within radius 28 (the
    # flat-patch tenth can: real flat patches do too), where near-copies all have one.
    assert _cross_item_neighbours(gen, counts[3:], 28) < 0.05
    _i, c2, _p, near = feature_banks.near_copies(pool[:10], 30)
    assert _cross_item_neighbours(np.asarray(near), c2, 28) > 0.95
    # ... and no generated row is a pool row: every full descriptor is new.
    pool_rows = {bytes(r) for _, d in pool for r in d}
    assert sum(bytes(r) in pool_rows for r in gen) < 0.01 * len(gen)
    # Every 3-byte key is a pool row's key at the same place, so the tables' bias is the
    # pool's: the largest 16-bit bucket holds a share like the pool's (flat patches), far
    # over a uniform bank's.
    rows = np.concatenate([d for _, d in pool])
    for t in range(10):
        keys = {bytes(r) for r in rows[:, 3 * t : 3 * t + 3]}
        assert all(bytes(r) in keys for r in gen[:, 3 * t : 3 * t + 3])
        assert abs(_top16_share(gen, t) - _top16_share(rows, t)) < 0.03
        assert _top16_share(gen, t) > 0.05
    # Positions: a pool item's layout, moved at most 3 px.
    assert pts.max() < 640 + 4


def test_near_copies_are_copies_of_the_bank_photos() -> None:
    rng = np.random.default_rng(6)
    base = _biased_pool(rng, 5, 30)
    ids, counts, pts, desc = feature_banks.near_copies(base, 12, head=base[:2])
    assert len(ids) == 14 and counts.tolist() == [30] * 14
    for i in range(12):  # item 2 + i is base[i % 5], ~8 bits flipped a descriptor
        src = base[i % 5][1]
        got = np.asarray(desc[(2 + i) * 30 : (3 + i) * 30])
        flipped = _POP[got ^ src].sum(axis=1)
        assert flipped.mean() < 16
        moved = pts[(2 + i) * 30 : (3 + i) * 30].astype(np.int64) - base[i % 5][0]
        assert np.abs(moved).max() <= 3

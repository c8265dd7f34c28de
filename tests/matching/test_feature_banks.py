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


def _shared(desc: npt.NDArray[np.uint8], counts: Any, radius: int) -> Any:
    """(items, items) matrix: rows of item a with a row of item b within radius (a != b)."""
    owner = np.repeat(np.arange(len(counts)), counts)
    onehot = np.eye(len(counts), dtype=np.int64)[owner]
    out = np.zeros((len(counts), len(counts)), np.int64)
    for lo in range(0, len(desc), 256):
        d = _POP[desc[lo : lo + 256, None, :] ^ desc[None, :, :]].sum(axis=2)
        has = ((d <= radius).astype(np.int64) @ onehot) > 0  # (block rows, items)
        out += onehot[lo : lo + 256].T @ has.astype(np.int64)
    np.fill_diagonal(out, 0)
    return out


def _top16_share(desc: npt.NDArray[np.uint8], table: int) -> float:
    top = desc[:, 3 * table].astype(np.int64) << 8 | desc[:, 3 * table + 1]
    return float(np.bincount(top, minlength=65536).max() / len(desc))


def test_generated_items_are_distinct_and_keep_the_key_bias() -> None:
    rng = np.random.default_rng(4)
    pool = _biased_pool(rng, 30, 40)
    head = pool[:3]
    rows = np.concatenate([d for _, d in pool])
    _i, c2, _p, near = feature_banks.near_copies(pool[:10], 30)
    near_shared = _shared(np.asarray(near), c2, 28)
    assert near_shared.max() == 40  # a near-copy shares every keypoint with its photo's
    for make in (feature_banks.distinct, feature_banks.mosaic):
        ids, counts, pts, desc = make(pool, 60, head=head)
        assert ids.tolist() == list(range(63)) and len(desc) == counts.sum() == len(pts)
        at = sum(len(d) for _, d in head)
        assert (desc[:at] == np.concatenate([d for _, d in head])).all()
        gen = np.asarray(desc[at:])
        # Distinct: two items (or an item and a pool photo) share only chance neighbours
        # (the pool's flat-patch tenth, a pool row drawn twice), never most keypoints as a
        # near-copy does (40 of 40); bounds from this seed (max 16 / 7, mean 4.8 / 0.4).
        both = np.concatenate([gen, rows])
        shared = _shared(both, np.concatenate([counts[3:], [len(d) for _, d in pool]]), 28)
        assert shared.max() <= 20 and shared.mean() < 6
        if make is feature_banks.mosaic:  # no recurring descriptors: fewer still
            assert shared.max() <= 10 and shared.mean() < 1
        # Every 3-byte key is a pool row's key at the same place, so each table's bias is
        # the pool's: the largest 16-bit bucket holds a share like the pool's (flat patches),
        # far over a uniform bank's (1 / 65,536).
        for t in range(10):
            if make is feature_banks.mosaic:
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

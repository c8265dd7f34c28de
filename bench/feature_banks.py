"""Synthetic banks of own items for bench/features.py --scale: near-copies and distinct items.

Both fill flat arrays (ids, counts, positions, descriptors), in chunks, optionally with the
descriptors in a memory-mapped file: at 1M items a list of Features would not fit. `head`
items (the real bank) come first, unchanged, with ids 0..len(head) - 1.

- near_copies: item i is bank photo i mod len(bank) with its positions moved +-3 px and ~8
  of 256 bits flipped per descriptor (bench/RESULTS.md 3d). Every query keypoint of a known
  photo then has ~n / len(bank) genuine neighbours: the worst case for any radius index.
- distinct: items that share no photograph: each descriptor is a pool row (real ORB
  descriptors of photos never queried) drawn at random for it alone, copied unchanged (bit
  flips would spread the keys and weaken their bias); positions are a random pool item's
  layout, moved +-3 px. So each table's keys keep the real keys' bias (some keys hold
  thousands of rows: the cost of a lookup), and a query keypoint finds chance neighbours at
  the pool's own rate (bench/features.py reports both rates), but no item shares its
  geometry with another or with a queried photo. What is not real: each pool row recurs in
  ~n * keypoints / pool rows items (a real bank's chance neighbours would be spread over
  different descriptors).
- mosaic: like distinct, but each descriptor's ten 3-byte chunks (the tables' keys) and
  its last 2 bytes are copied from independently drawn pool rows: the same key bias, no
  recurring descriptor, and next to no chance neighbours (a lower bound on their cost).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

# Byte ranges copied from independent pool rows: the 3-byte keys of the ten possible tables
# (matching/feature_index.MAX_TABLES) and the 2 bytes left.
CHUNKS = [(3 * c, 3 * c + 3) for c in range(10)] + [(30, 32)]
BLOCK_ROWS = 1 << 20  # rows generated at a time


Items = list[tuple[npt.NDArray[np.uint16], npt.NDArray[np.uint8]]]


def _alloc(head: Items | None, counts: Any, mmap_dir: str, name: str) -> Any:
    """(ids, counts, positions, descriptors, first generated row) with head filled in."""
    head = head or []
    counts = np.concatenate([np.asarray([len(d) for _, d in head], np.int64), counts])
    total = int(counts.sum())
    if mmap_dir:  # descriptors in a file: the page cache holds them, not the heap
        desc = np.memmap(Path(mmap_dir) / name, np.uint8, "w+", shape=(total, 32))
    else:
        desc = np.empty((total, 32), np.uint8)
    pts = np.empty((total, 2), np.uint16)
    at = 0
    for p, d in head:
        desc[at : at + len(d)] = d
        pts[at : at + len(d)] = p
        at += len(d)
    return np.arange(len(counts), dtype=np.int64), counts, pts, desc, at


def near_copies(
    base: Items, n: int, mmap_dir: str = "", head: Items | None = None, seed: int = 7
) -> Any:
    """n items, item i like base[i mod len(base)]: positions +-3 px, ~8 bits flipped each."""
    rng = np.random.default_rng(seed)
    # ~8 of 256 bits flipped per descriptor, drawn from a pool of masks (fast at 150M rows).
    pool = np.packbits(rng.random((1 << 16, 256), dtype=np.float32) < 8 / 256, axis=1)
    counts = np.asarray([len(base[i % len(base)][0]) for i in range(n)], np.int64)
    ids, counts, pts, desc, at = _alloc(head, counts, mmap_dir, f"near-copies-{n}.u8")
    step = len(base)
    for c0 in range(0, n, step):
        lo = at
        for i in range(c0, min(n, c0 + step)):
            p, d = base[i % len(base)]
            desc[at : at + len(d)] = d
            pts[at : at + len(d)] = p
            at += len(d)
        m = at - lo
        desc[lo:at] ^= pool[rng.integers(0, len(pool), m)]
        moved = pts[lo:at].astype(np.int32) + rng.integers(-3, 4, (m, 2), dtype=np.int32)
        pts[lo:at] = np.clip(moved, 0, 65535)
    return ids, counts, pts, desc


def _layout(pool: Items, n: int, head: Items | None, mmap_dir: str, name: str, rng: Any) -> Any:
    """Arrays with head filled in and n items' positions, each a random pool item's layout
    moved +-3 px; and the first generated row."""
    layout = rng.integers(0, len(pool), n)
    sizes = np.asarray([len(p) for p, _ in pool], np.int64)
    ids, counts, pts, desc, first = _alloc(head, sizes[layout], mmap_dir, name)
    starts = np.concatenate([[0], np.cumsum(counts)])
    for i in range(n):
        s0, s1 = starts[len(ids) - n + i], starts[len(ids) - n + i + 1]
        pts[s0:s1] = pool[layout[i]][0]
    for lo in range(first, len(desc), BLOCK_ROWS):
        hi = min(len(desc), lo + BLOCK_ROWS)
        moved = pts[lo:hi].astype(np.int32) + rng.integers(-3, 4, (hi - lo, 2), dtype=np.int32)
        pts[lo:hi] = np.clip(moved, 0, 65535)
    return ids, counts, pts, desc, first


def _filled(
    pool: Items,
    n: int,
    mmap_dir: str,
    head: Items | None,
    name: str,
    seed: int,
    chunks: list[tuple[int, int]],
) -> Any:
    """n items whose descriptors are pool rows, each chunk of bytes drawn independently."""
    rng = np.random.default_rng(seed)
    rows = np.concatenate([d for _, d in pool])
    ids, counts, pts, desc, first = _layout(pool, n, head, mmap_dir, f"{name}-{n}.u8", rng)
    for lo in range(first, len(desc), BLOCK_ROWS):
        hi = min(len(desc), lo + BLOCK_ROWS)
        for b0, b1 in chunks:
            desc[lo:hi, b0:b1] = rows[rng.integers(0, len(rows), hi - lo), b0:b1]
    return ids, counts, pts, desc


def distinct(
    pool: Items, n: int, mmap_dir: str = "", head: Items | None = None, seed: int = 11
) -> Any:
    """n items of pool rows drawn one by one (see the module docstring)."""
    return _filled(pool, n, mmap_dir, head, "distinct", seed, [(0, 32)])


def mosaic(
    pool: Items, n: int, mmap_dir: str = "", head: Items | None = None, seed: int = 13
) -> Any:
    """n items of chunk-mosaic descriptors from the pool's rows (see the module docstring)."""
    return _filled(pool, n, mmap_dir, head, "mosaic", seed, CHUNKS)

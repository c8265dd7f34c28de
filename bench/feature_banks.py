"""Synthetic banks of own items for bench/features.py --scale: near-copies and distinct items.

Both fill flat arrays (ids, counts, positions, descriptors), in chunks, optionally with the
descriptors in a memory-mapped file: at 1M items a list of Features would not fit. `head`
items (the real bank) come first, unchanged, with ids 0..len(head) - 1.

- near_copies: item i is bank photo i mod len(bank) with its positions moved +-3 px and ~8
  of 256 bits flipped per descriptor (bench/RESULTS.md 3d). Every query keypoint of a known
  photo then has ~n / len(bank) genuine neighbours: the worst case for any radius index.
- distinct: items that share no photograph. Each descriptor is a mosaic of a pool of real
  ORB descriptors (photos never queried): its ten 3-byte chunks (the LSH tables' keys) and
  its last 2 bytes are each copied from an independently drawn pool row. So every table's
  key has the real keys' distribution (the bias that makes some keys hold thousands of
  rows: the cost of a lookup), while the full 256 bits are a new combination that no photo
  shares. Positions are a random pool item's layout, moved +-3 px. What it leaves out: the
  correlation between one descriptor's chunks (real "chance" neighbours within the radius,
  e.g. two photos' flat patches), so it is easier than a real bank on the matches a query
  returns; bench/features.py reports that rate next to the real bank's.
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


def distinct(
    pool: Items, n: int, mmap_dir: str = "", head: Items | None = None, seed: int = 11
) -> Any:
    """n items of chunk-mosaic descriptors from the pool's rows (see the module docstring)."""
    rng = np.random.default_rng(seed)
    rows = np.concatenate([d for _, d in pool])
    layout = rng.integers(0, len(pool), n)  # item i takes pool item layout[i]'s positions
    sizes = np.asarray([len(p) for p, _ in pool], np.int64)
    ids, counts, pts, desc, first = _alloc(head, sizes[layout], mmap_dir, f"distinct-{n}.u8")
    total = len(desc)
    for lo in range(first, total, BLOCK_ROWS):
        hi = min(total, lo + BLOCK_ROWS)
        for b0, b1 in CHUNKS:
            desc[lo:hi, b0:b1] = rows[rng.integers(0, len(rows), hi - lo), b0:b1]
    starts = np.concatenate([[0], np.cumsum(counts)])
    for i in range(n):
        s0, s1 = starts[len(ids) - n + i], starts[len(ids) - n + i + 1]
        pts[s0:s1] = pool[layout[i]][0]
    for lo in range(first, total, BLOCK_ROWS):
        hi = min(total, lo + BLOCK_ROWS)
        moved = pts[lo:hi].astype(np.int32) + rng.integers(-3, 4, (hi - lo, 2), dtype=np.int32)
        pts[lo:hi] = np.clip(moved, 0, 65535)
    return ids, counts, pts, desc

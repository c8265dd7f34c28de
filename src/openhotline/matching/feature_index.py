"""Local-feature descriptors of many items: LSH tables on descriptor substrings, segments.

The PDQ multi-index (matching/index.py) enumerates every substring within the radius; for
256-bit ORB descriptors at radius 28 that enumeration grows with the rows until a query at
100k items took 22 s (bench/RESULTS.md 3b). Here a descriptor is looked up by exact keys
instead: TABLES tables, table t keyed by descriptor bytes 3t..3t+2 (24 bits), probed at the
query's key and (PROBE) at the 24 keys one bit away. A descriptor pair whose distance on the
covered bits is below 2 * TABLES is always found (pigeonhole); farther pairs are found with a
probability that falls with the distance, and the geometric check needs only a share of the
true matches (bench/features.py --old: found rates against the exact index in one run).
Every candidate is checked on its full 256 bits, so nothing beyond the radius comes back.

Storage is flat arrays per segment: descriptors (N, 32) uint8, positions (N, 2) uint16, per
table a directory of 2**bits + 1 uint32 offsets on the key's top bits (16 to 24 of them,
about DIR_ROWS rows a slot: a probe then reads one short run of lows, not a binary search
through thousands), the sorted lows (uint16: the key's remaining bits and an extra byte
outside the keys) and the rows (uint32): about 36 + 6.25 * TABLES bytes per descriptor, no
Python object per descriptor. Keys shared by thousands of rows (a bank of near-copies, or
a common patch in millions of photos) cost at most CAP reads per table, not thousands: the
rows nearest to the query on their key and extra byte are read first (kernels.search_row).
A query's keypoints can be searched on every core (PARALLEL, numba prange). Items added
after a build go into a new segment; segments merge when a newer one reaches a quarter of
the older one's rows (each row is rebuilt O(log N) times); removal is a tombstone per item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from openhotline.matching import feature_kernels as _kernels

kernels: Any = _kernels  # numba dispatchers: untyped for mypy

TABLES = 6  # 24-bit tables (of 10 possible): bench/features.py --old measured the recall
PROBE = True  # also the keys one bit away: 25 lookups per table, far fewer misses
MAX_TABLES = 10  # 30 bytes of the 32 make whole 3-byte keys
BUCKET_SHARE = 64  # a 16-bit bucket over 64x the mean size (flat patches) is not probed
MIN_MAX_BUCKET = 4096  # ... but small segments probe every bucket
CAP = 64  # rows read per table and query keypoint at most (bench/RESULTS.md 3g)
PARALLEL = False  # prange over query rows: slower on the shared 2-core VM (RESULTS 3g)
DIR_ROWS = 16  # rows per directory slot aimed at (bench/RESULTS-s24-feat1m.md)
MERGE_RATIO = 4  # a segment merges into the one before when it has >= 1/4 of its rows
MAX_SEGMENT_ROWS = 1 << 32  # rows are uint32


@dataclass
class _Segment:
    """One immutable block of items: descriptors, positions, LSH tables, item layout."""

    item_ids: npt.NDArray[np.int64]  # (k,)
    starts: npt.NDArray[np.int64]  # (k + 1,) first row of each item
    alive: npt.NDArray[np.bool_]  # (k,)
    extents: npt.NDArray[np.float32]  # (k, 4) min x, min y, max x, max y of the positions
    desc: npt.NDArray[np.uint8]  # (n, 32)
    points: npt.NDArray[np.uint16]  # (n, 2)
    offsets: npt.NDArray[np.uint32]  # (tables, 2**bits + 1)
    lows: npt.NDArray[np.uint16]  # (tables, n) key's low 24 - bits bits << 8 | extra byte
    rows: npt.NDArray[np.uint32]  # (tables, n)
    skips: dict[int, npt.NDArray[np.bool_]]  # max_bucket -> kernels.skipped (cached)

    def skip(self, max_bucket: int) -> Any:
        """(tables, 65536) flags of the 16-bit buckets over max_bucket rows (not probed)."""
        if max_bucket not in self.skips:
            self.skips[max_bucket] = kernels.skipped(self.offsets, max_bucket)
        return self.skips[max_bucket]

    @property
    def n(self) -> int:
        return int(self.desc.shape[0])

    def nbytes(self) -> int:
        arrays: list[npt.NDArray[Any]] = [
            self.item_ids, self.starts, self.alive, self.extents, self.desc, self.points,
            self.offsets, self.lows, self.rows, *self.skips.values(),
        ]  # fmt: skip
        return sum(a.nbytes for a in arrays)


def _extents(points: npt.NDArray[np.uint16], starts: npt.NDArray[np.int64]) -> Any:
    if len(starts) < 2:
        return np.zeros((0, 4), np.float32)
    lo = np.minimum.reduceat(points, starts[:-1], axis=0).astype(np.float32)
    hi = np.maximum.reduceat(points, starts[:-1], axis=0).astype(np.float32)
    return np.concatenate([lo, hi], axis=1)


def dir_bits(n: int) -> int:
    """Directory bits of a table over n rows: about DIR_ROWS rows a slot, 16 to 24 bits."""
    return int(min(24, max(16, round(np.log2(max(n, 1) / DIR_ROWS)))))


def _segment(
    item_ids: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
    points: npt.NDArray[np.uint16],
    desc: npt.NDArray[np.uint8],
    tables: int,
) -> _Segment:
    starts = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=starts[1:])
    n = len(desc)
    bits = dir_bits(n)
    offsets = np.empty((tables, (1 << bits) + 1), np.uint32)
    lows = np.empty((tables, n), np.uint16)
    rows = np.empty((tables, n), np.uint32)
    for t in range(tables):
        offsets[t], lows[t], rows[t] = kernels.build_table(desc, t, bits)
    return _Segment(
        item_ids, starts, np.ones(len(item_ids), bool), _extents(points, starts),
        desc, points, offsets, lows, rows, {},
    )  # fmt: skip


@dataclass(frozen=True)
class Matches:
    """Descriptor matches of one query, one per (item, query row): the closest descriptor."""

    items: npt.NDArray[np.int64]  # item id of each match, grouped by item (ascending)
    q_rows: npt.NDArray[np.int64]  # the query descriptor's row
    points: npt.NDArray[np.float32]  # (m, 2) the item descriptor's position
    distances: npt.NDArray[np.int64]


class DescriptorIndex:
    """ORB descriptors with positions, per item; radius search through LSH tables."""

    def __init__(
        self, tables: int = TABLES, probe: bool = PROBE, cap: int = CAP, parallel: bool = PARALLEL
    ) -> None:
        if not 1 <= tables <= MAX_TABLES:
            raise ValueError(f"tables must be 1..{MAX_TABLES}, got {tables}")
        self.tables = tables
        self.probe = probe
        self.cap = cap  # 0: every row of a key is read (the index before the cap)
        self.parallel = parallel
        self._segments: list[_Segment] = []
        self._where: dict[int, tuple[_Segment, int]] = {}  # item id -> its segment, slot
        self._pending: dict[int, tuple[npt.NDArray[np.uint16], npt.NDArray[np.uint8]]] = {}

    def add(
        self, item_id: int, points: npt.NDArray[np.uint16], desc: npt.NDArray[np.uint8]
    ) -> None:
        """Add (or replace) an item's positions (n, 2) and descriptors (n, 32)."""
        if desc.ndim != 2 or desc.shape[1] != 32 or points.shape != (len(desc), 2):
            raise ValueError("descriptors must be (n, 32) uint8 with (n, 2) positions")
        self.remove(item_id)
        if len(desc):
            self._pending[item_id] = (
                np.ascontiguousarray(points, np.uint16),
                np.ascontiguousarray(desc, np.uint8),
            )

    def add_many(
        self,
        item_ids: npt.NDArray[np.int64],
        counts: npt.NDArray[np.int64],
        points: npt.NDArray[np.uint16],
        desc: npt.NDArray[np.uint8],
    ) -> None:
        """Add many new items at once as one segment (items laid out one after another)."""
        if int(counts.sum()) != len(desc) or points.shape != (len(desc), 2):
            raise ValueError("counts, positions and descriptors disagree")
        if len(np.unique(item_ids)) != len(item_ids) or any(
            int(i) in self._where or int(i) in self._pending for i in item_ids
        ):
            raise ValueError("add_many takes new, distinct item ids")
        if len(desc) >= MAX_SEGMENT_ROWS:
            raise ValueError("too many descriptors for one segment")
        self._flush()
        keep = counts > 0
        seg = _segment(
            np.asarray(item_ids, np.int64)[keep], np.asarray(counts, np.int64)[keep],
            np.ascontiguousarray(points, np.uint16), np.ascontiguousarray(desc, np.uint8),
            self.tables,
        )  # fmt: skip
        self._install(seg)

    def remove(self, item_id: int) -> None:
        """Remove an item (visible to the next search)."""
        self._pending.pop(item_id, None)
        where = self._where.pop(item_id, None)
        if where is not None:
            where[0].alive[where[1]] = False

    def items(self) -> int:
        """Number of items held."""
        return len(self._where) + len(self._pending)

    def __len__(self) -> int:
        """Number of live descriptors held."""
        self._flush()
        return sum(int(np.diff(s.starts)[s.alive].sum()) for s in self._segments)

    def nbytes(self) -> int:
        """Memory of every segment's arrays (dead items included until their segment merges)."""
        self._flush()
        return sum(s.nbytes() for s in self._segments)

    def extent(self, item_id: int) -> npt.NDArray[np.float32]:
        """(min x, min y, max x, max y) of an item's positions."""
        self._flush()
        seg, slot = self._where[item_id]
        out: npt.NDArray[np.float32] = seg.extents[slot]
        return out

    def _install(self, seg: _Segment) -> None:
        for slot, item in enumerate(seg.item_ids.tolist()):
            self._where[item] = (seg, slot)
        self._segments.append(seg)
        # Merge while the newest segment is big next to the one before: O(log N) segments.
        while (
            len(self._segments) > 1
            and MERGE_RATIO * self._segments[-1].n >= self._segments[-2].n
            and self._segments[-1].n + self._segments[-2].n < MAX_SEGMENT_ROWS
        ):
            b = self._segments.pop()
            a = self._segments.pop()
            merged = self._merge(a, b)
            for slot, item in enumerate(merged.item_ids.tolist()):
                self._where[item] = (merged, slot)
            self._segments.append(merged)

    def _merge(self, a: _Segment, b: _Segment) -> _Segment:
        ids, counts, pts, desc = [], [], [], []
        for s in (a, b):
            live = np.flatnonzero(s.alive)
            rows = np.concatenate([np.arange(s.starts[i], s.starts[i + 1]) for i in live] or [
                np.zeros(0, np.int64)
            ])  # fmt: skip
            ids.append(s.item_ids[live])
            counts.append(np.diff(s.starts)[live])
            pts.append(s.points[rows])
            desc.append(s.desc[rows])
        return _segment(
            np.concatenate(ids), np.concatenate(counts), np.concatenate(pts),
            np.concatenate(desc), self.tables,
        )  # fmt: skip

    def _flush(self) -> None:
        if not self._pending:
            return
        ids = np.fromiter(self._pending, np.int64, len(self._pending))
        parts = list(self._pending.values())
        self._pending = {}
        counts = np.asarray([len(d) for _, d in parts], np.int64)
        seg = _segment(
            ids, counts, np.concatenate([p for p, _ in parts]),
            np.concatenate([d for _, d in parts]), self.tables,
        )  # fmt: skip
        self._install(seg)

    def matches(self, desc: npt.NDArray[np.uint8], radius: int) -> Matches:
        """Per live item and query row, the closest item descriptor within radius (if found)."""
        self._flush()
        desc = np.ascontiguousarray(desc, np.uint8)
        q64 = desc.view(np.uint64).reshape(-1, 4)
        items, q_rows, pts, dists = [], [], [], []
        for s in self._segments:
            if s.n == 0 or len(desc) == 0:
                continue
            max_bucket = max(MIN_MAX_BUCKET, BUCKET_SHARE * s.n // 65536)
            search = kernels.search_parallel if self.parallel else kernels.search
            qi, r, d = search(
                desc, q64, s.desc.view(np.uint64).reshape(-1, 4), s.offsets, s.lows, s.rows,
                s.skip(max_bucket), self.tables, self.probe, radius, self.cap,
            )  # fmt: skip
            slot = np.searchsorted(s.starts, r, side="right") - 1
            live = s.alive[slot]
            items.append(s.item_ids[slot[live]])
            q_rows.append(qi[live])
            pts.append(s.points[r[live]])
            dists.append(d[live])
        if not items:
            return Matches(
                np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 2), np.float32),
                np.zeros(0, np.int64),
            )  # fmt: skip
        item = np.concatenate(items)
        q = np.concatenate(q_rows)
        p = np.concatenate(pts).astype(np.float32)
        d = np.concatenate(dists)
        order = np.lexsort((d, q, item))
        item, q, p, d = item[order], q[order], p[order], d[order]
        first = np.ones(len(item), bool)
        first[1:] = (item[1:] != item[:-1]) | (q[1:] != q[:-1])
        return Matches(item[first], q[first], p[first], d[first])

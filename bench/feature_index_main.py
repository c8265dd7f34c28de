"""Frozen copy of main's LSH descriptor index at c1f2936 (before the per-key cap and the
parallel kernel), kernels inlined: bench/features.py --baseline runs it in the same run.

Not for use outside the benchmarks; the text below is main's, unchanged but for the import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

from openhotline.matching.kernels import _popcount64

# Descriptors are (N, 32) uint8 (OpenCV's ORB bytes); the distance check reads them as
# (N, 4) uint64 words of the same bytes (popcount of an XOR does not care about byte order).
# Table t is keyed by descriptor bytes 3t, 3t+1, 3t+2: the top 16 bits pick a bucket
# (directory of 2**16 + 1 offsets), the low 8 bits are kept sorted inside it.


@njit(cache=True)
def build_table(desc: Any, table: int) -> Any:
    """(offsets, low bytes, rows) of one table: rows sorted by their 24-bit key, stable, O(N)."""
    n = desc.shape[0]
    b = 3 * table
    # Pass 1: counting sort by the low byte; pass 2: stable counting sort by the top 16 bits.
    count = np.zeros(257, dtype=np.int64)
    for i in range(n):
        count[np.int64(desc[i, b + 2]) + 1] += 1
    for k in range(256):
        count[k + 1] += count[k]
    tmp = np.empty(n, dtype=np.uint32)
    for i in range(n):
        c = np.int64(desc[i, b + 2])
        tmp[count[c]] = i
        count[c] += 1
    offsets = np.zeros(65537, dtype=np.uint32)
    for i in range(n):
        offsets[(np.int64(desc[i, b]) << 8 | np.int64(desc[i, b + 1])) + 1] += 1
    for k in range(65536):
        offsets[k + 1] += offsets[k]
    pos = offsets[:-1].astype(np.int64)
    rows = np.empty(n, dtype=np.uint32)
    low = np.empty(n, dtype=np.uint8)
    for j in range(n):
        i = tmp[j]
        top = np.int64(desc[i, b]) << 8 | np.int64(desc[i, b + 1])
        rows[pos[top]] = i
        low[pos[top]] = desc[i, b + 2]
        pos[top] += 1
    return offsets, low, rows


@njit(cache=True, inline="always")
def _lower(low: Any, lo: Any, hi: Any, value: Any) -> Any:
    """First position in low[lo:hi] (sorted) whose value is >= value."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if np.int64(low[mid]) < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def search(
    q8: Any,
    q64: Any,
    desc64: Any,
    offsets: Any,
    lows: Any,
    rows: Any,
    tables: int,
    probe: bool,
    radius: int,
    max_bucket: int,
) -> Any:
    """(query row, descriptor row, distance) of every candidate within radius.

    Candidates are the rows that share a table's 24-bit key with the query, or (probe) differ
    from it in one of those 24 bits. A row found by several tables is reported once per table
    (the caller keeps one per pair). Top-16-bit buckets over max_bucket rows (flat patches'
    descriptors: thousands of near-identical ones) are skipped: they cannot tell items apart.
    """
    cap = 1024
    out_q = np.empty(cap, dtype=np.int64)
    out_r = np.empty(cap, dtype=np.int64)
    out_d = np.empty(cap, dtype=np.int64)
    found = 0
    nprobe = 25 if probe else 1
    for qi in range(q8.shape[0]):
        w0, w1, w2, w3 = q64[qi, 0], q64[qi, 1], q64[qi, 2], q64[qi, 3]
        for t in range(tables):
            b = 3 * t
            key = np.int64(q8[qi, b]) << 16 | np.int64(q8[qi, b + 1]) << 8 | np.int64(q8[qi, b + 2])
            for p in range(nprobe):
                k = key if p == 0 else key ^ (np.int64(1) << np.int64(p - 1))
                top = k >> 8
                lo = np.int64(offsets[t, top])
                hi = np.int64(offsets[t, top + 1])
                if hi - lo > max_bucket or hi == lo:
                    continue
                start = _lower(lows[t], lo, hi, k & 255)
                for j in range(start, hi):
                    if np.int64(lows[t, j]) != (k & 255):
                        break
                    r = rows[t, j]
                    d = (
                        _popcount64(desc64[r, 0] ^ w0)
                        + _popcount64(desc64[r, 1] ^ w1)
                        + _popcount64(desc64[r, 2] ^ w2)
                        + _popcount64(desc64[r, 3] ^ w3)
                    )
                    if d > radius:
                        continue
                    if found == cap:
                        cap *= 2
                        nq = np.empty(cap, dtype=np.int64)
                        nr = np.empty(cap, dtype=np.int64)
                        nd = np.empty(cap, dtype=np.int64)
                        nq[:found] = out_q[:found]
                        nr[:found] = out_r[:found]
                        nd[:found] = out_d[:found]
                        out_q, out_r, out_d = nq, nr, nd
                    out_q[found] = qi
                    out_r[found] = r
                    out_d[found] = d
                    found += 1
    return out_q[:found], out_r[:found], out_d[:found]


class _Kernels:
    build_table = build_table
    search = search


kernels: Any = _Kernels

TABLES = 6  # 24-bit tables (of 10 possible): bench/features.py --old measured the recall
PROBE = True  # also the keys one bit away: 25 lookups per table, far fewer misses
MAX_TABLES = 10  # 30 bytes of the 32 make whole 3-byte keys
BUCKET_SHARE = 64  # a 16-bit bucket over 64x the mean size (flat patches) is not probed
MIN_MAX_BUCKET = 4096  # ... but small segments probe every bucket
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
    offsets: npt.NDArray[np.uint32]  # (tables, 65537)
    lows: npt.NDArray[np.uint8]  # (tables, n)
    rows: npt.NDArray[np.uint32]  # (tables, n)

    @property
    def n(self) -> int:
        return int(self.desc.shape[0])

    def nbytes(self) -> int:
        arrays = (self.item_ids, self.starts, self.alive, self.extents, self.desc, self.points)
        return sum(a.nbytes for a in (*arrays, self.offsets, self.lows, self.rows))


def _extents(points: npt.NDArray[np.uint16], starts: npt.NDArray[np.int64]) -> Any:
    if len(starts) < 2:
        return np.zeros((0, 4), np.float32)
    lo = np.minimum.reduceat(points, starts[:-1], axis=0).astype(np.float32)
    hi = np.maximum.reduceat(points, starts[:-1], axis=0).astype(np.float32)
    return np.concatenate([lo, hi], axis=1)


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
    offsets = np.empty((tables, 65537), np.uint32)
    lows = np.empty((tables, n), np.uint8)
    rows = np.empty((tables, n), np.uint32)
    for t in range(tables):
        offsets[t], lows[t], rows[t] = kernels.build_table(desc, t)
    return _Segment(
        item_ids, starts, np.ones(len(item_ids), bool), _extents(points, starts),
        desc, points, offsets, lows, rows,
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

    def __init__(self, tables: int = TABLES, probe: bool = PROBE) -> None:
        if not 1 <= tables <= MAX_TABLES:
            raise ValueError(f"tables must be 1..{MAX_TABLES}, got {tables}")
        self.tables = tables
        self.probe = probe
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
            qi, r, d = kernels.search(
                desc, q64, s.desc.view(np.uint64).reshape(-1, 4), s.offsets, s.lows, s.rows,
                self.tables, self.probe, radius, max_bucket,
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

"""Numba kernels of the local-feature index: bucket sort per table and the bucket search."""

from __future__ import annotations

from typing import Any

import numpy as np
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

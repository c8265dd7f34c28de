"""Numba kernels of the local-feature index: bucket sort per table and the bucket search."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from openhotline.matching.kernels import _popcount64

# Descriptors are (N, 32) uint8 (OpenCV's ORB bytes); the distance check reads them as
# (N, 4) uint64 words of the same bytes (popcount of an XOR does not care about byte order).
# Table t is keyed by descriptor bytes 3t, 3t+1, 3t+2: the top 16 bits pick a bucket
# (directory of 2**16 + 1 offsets); inside it the rows are sorted by a uint16 "low" of the
# key's low byte and the table's extra byte (31 - t, outside every table's key), so that
# keys held by thousands of rows can be read nearest-first on 32 bits (the cap).

_POP8 = np.asarray([bin(v).count("1") for v in range(256)], np.int64)  # popcount of a byte
PARALLEL_ROOM = 64  # matches per query row kept by the parallel pass; more: counted, redone


def extra_byte(table: int) -> int:
    """The descriptor byte that orders rows inside a key of table `table` (not in any key)."""
    return 31 - table


@njit(cache=True)
def _sort_by(desc: Any, order: Any, col: int) -> Any:
    """order, stably counting-sorted by desc[:, col]."""
    n = order.shape[0]
    count = np.zeros(257, dtype=np.int64)
    for j in range(n):
        count[np.int64(desc[order[j], col]) + 1] += 1
    for k in range(256):
        count[k + 1] += count[k]
    out = np.empty(n, dtype=np.uint32)
    for j in range(n):
        c = np.int64(desc[order[j], col])
        out[count[c]] = order[j]
        count[c] += 1
    return out


@njit(cache=True)
def build_table(desc: Any, table: int) -> Any:
    """(offsets, lows, rows) of one table: rows sorted by 24-bit key then extra byte, O(N).

    lows[j] is (key's low byte << 8) | extra byte of row rows[j]; offsets index the top 16
    bits of the key.
    """
    n = desc.shape[0]
    b = 3 * table
    x = 31 - table
    # LSD radix: stable counting sorts by the extra byte, the low key byte, the top 16 bits.
    order = np.arange(n).astype(np.uint32)
    order = _sort_by(desc, order, x)
    order = _sort_by(desc, order, b + 2)
    offsets = np.zeros(65537, dtype=np.uint32)
    for i in range(n):
        offsets[(np.int64(desc[i, b]) << 8 | np.int64(desc[i, b + 1])) + 1] += 1
    for k in range(65536):
        offsets[k + 1] += offsets[k]
    pos = offsets[:-1].astype(np.int64)
    rows = np.empty(n, dtype=np.uint32)
    low = np.empty(n, dtype=np.uint16)
    for j in range(n):
        i = order[j]
        top = np.int64(desc[i, b]) << 8 | np.int64(desc[i, b + 1])
        rows[pos[top]] = i
        low[pos[top]] = np.uint16(np.int64(desc[i, b + 2]) << 8 | np.int64(desc[i, x]))
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


@njit(cache=True, inline="always")
def _check(
    desc64: Any, rows: Any, t: int, a: Any, z: Any, w0: Any, w1: Any, w2: Any, w3: Any,
    radius: int, out_r: Any, out_d: Any, at: Any, room: Any, found: Any,
) -> Any:  # fmt: skip
    """Rows rows[t, a:z] within radius appended at out[at + found] (while room); new found."""
    for j in range(a, z):
        r = rows[t, j]
        d = (
            _popcount64(desc64[r, 0] ^ w0)
            + _popcount64(desc64[r, 1] ^ w1)
            + _popcount64(desc64[r, 2] ^ w2)
            + _popcount64(desc64[r, 3] ^ w3)
        )
        if d <= radius:
            if found < room:
                out_r[at + found] = r
                out_d[at + found] = d
            found += 1
    return found


@njit(cache=True)
def search_row(
    qi: int, q8: Any, q64: Any, desc64: Any, offsets: Any, lows: Any, rows: Any, tables: int,
    probe: bool, radius: int, max_bucket: int, cap: int, out_r: Any, out_d: Any, at: int,
    room: int,
) -> int:  # fmt: skip
    """Matches of query row qi: (row, distance) written to out_*[at:at + room]; the count.

    The count may exceed room (then only room were written): the caller grows and redoes.
    Per table, when the probed keys hold more than cap rows (cap > 0), only cap of them are
    read, nearest first on 32 bits (key and extra byte): level L is the query's key with the
    extra byte L bits away and the keys one bit away with it L - 1 bits away; the last level
    read is cut at cap rows (in probe-key and row order: older items first).
    """
    w0, w1, w2, w3 = q64[qi, 0], q64[qi, 1], q64[qi, 2], q64[qi, 3]
    nprobe = 25 if probe else 1
    ps = np.empty(25, dtype=np.int64)  # per probed key: its rows lows[t, ps:pe], value v0
    pe = np.empty(25, dtype=np.int64)
    pv = np.empty(25, dtype=np.int64)
    found = 0
    for t in range(tables):
        b = 3 * t
        qx = np.int64(q8[qi, 31 - t])
        key = np.int64(q8[qi, b]) << 16 | np.int64(q8[qi, b + 1]) << 8 | np.int64(q8[qi, b + 2])
        total = 0
        for p in range(nprobe):
            k = key if p == 0 else key ^ (np.int64(1) << np.int64(p - 1))
            top = k >> 8
            lo = np.int64(offsets[t, top])
            hi = np.int64(offsets[t, top + 1])
            pv[p] = (k & 255) << 8
            if hi - lo > max_bucket or hi == lo:
                ps[p] = pe[p] = 0
                continue
            ps[p] = _lower(lows[t], lo, hi, pv[p])
            pe[p] = _lower(lows[t], ps[p], hi, pv[p] + 256)
            total += pe[p] - ps[p]
        if cap <= 0 or total <= cap:
            for p in range(nprobe):
                found = _check(desc64, rows, t, ps[p], pe[p], w0, w1, w2, w3, radius, out_r,
                               out_d, at, room, found)  # fmt: skip
            continue
        # Over cap: histogram of the rows' levels (distance on the 32 bits of key and extra
        # byte: the key's from the probe, 0 or 1), a sequential pass over the lows; then the
        # rows below the level that reaches cap, and that level's first rows up to cap.
        hist = np.zeros(10, dtype=np.int64)
        for p in range(nprobe):
            base = 0 if p == 0 else 1
            for j in range(ps[p], pe[p]):
                hist[base + _POP8[(np.int64(lows[t, j]) ^ qx) & 255]] += 1
        last = 0
        below = 0
        while below + hist[last] < cap:
            below += hist[last]
            last += 1
        room_last = cap - below
        for p in range(nprobe):
            base = 0 if p == 0 else 1
            for j in range(ps[p], pe[p]):
                level = base + _POP8[(np.int64(lows[t, j]) ^ qx) & 255]
                if level > last:
                    continue
                if level == last:
                    if room_last == 0:
                        continue
                    room_last -= 1
                found = _check(desc64, rows, t, j, j + 1, w0, w1, w2, w3, radius, out_r,
                               out_d, at, room, found)  # fmt: skip
    return found


@njit(cache=True)
def search(
    q8: Any, q64: Any, desc64: Any, offsets: Any, lows: Any, rows: Any, tables: int,
    probe: bool, radius: int, max_bucket: int, cap: int,
) -> Any:  # fmt: skip
    """(query row, descriptor row, distance) of every candidate within radius, one thread.

    Candidates are the rows that share a table's 24-bit key with the query, or (probe) differ
    from it in one of those 24 bits (at most cap of them per table: search_row). A row found
    by several tables is reported once per table (the caller keeps one per pair). Top-16-bit
    buckets over max_bucket rows (flat patches' descriptors: thousands of near-identical
    ones) are skipped: they cannot tell items apart.
    """
    cap_out = 1024
    out_q = np.empty(cap_out, dtype=np.int64)
    out_r = np.empty(cap_out, dtype=np.int64)
    out_d = np.empty(cap_out, dtype=np.int64)
    found = 0
    for qi in range(q8.shape[0]):
        n = search_row(qi, q8, q64, desc64, offsets, lows, rows, tables, probe, radius,
                       max_bucket, cap, out_r, out_d, found, cap_out - found)  # fmt: skip
        if found + n > cap_out:
            while found + n > cap_out:
                cap_out *= 2
            nr = np.empty(cap_out, dtype=np.int64)
            nd = np.empty(cap_out, dtype=np.int64)
            nq = np.empty(cap_out, dtype=np.int64)
            nr[:found] = out_r[:found]
            nd[:found] = out_d[:found]
            nq[:found] = out_q[:found]
            out_r, out_d, out_q = nr, nd, nq
            search_row(qi, q8, q64, desc64, offsets, lows, rows, tables, probe, radius,
                       max_bucket, cap, out_r, out_d, found, n)  # fmt: skip
        out_q[found : found + n] = qi
        found += n
    return out_q[:found], out_r[:found], out_d[:found]


@njit(cache=True, parallel=True)
def search_parallel(
    q8: Any, q64: Any, desc64: Any, offsets: Any, lows: Any, rows: Any, tables: int,
    probe: bool, radius: int, max_bucket: int, cap: int,
) -> Any:  # fmt: skip
    """search's result (same rows, same order), the query rows spread over threads.

    Pass 1 keeps up to PARALLEL_ROOM matches per query row and counts them all; pass 2
    copies each row's matches to its place in the output, redoing the rows that had more.
    """
    nq = q8.shape[0]
    room = PARALLEL_ROOM
    buf_r = np.empty(nq * room, dtype=np.int64)
    buf_d = np.empty(nq * room, dtype=np.int64)
    counts = np.zeros(nq, dtype=np.int64)
    for qi in prange(nq):
        counts[qi] = search_row(qi, q8, q64, desc64, offsets, lows, rows, tables, probe,
                                radius, max_bucket, cap, buf_r, buf_d, qi * room, room)  # fmt: skip
    starts = np.zeros(nq + 1, dtype=np.int64)
    for qi in range(nq):
        starts[qi + 1] = starts[qi] + counts[qi]
    total = starts[nq]
    out_q = np.empty(total, dtype=np.int64)
    out_r = np.empty(total, dtype=np.int64)
    out_d = np.empty(total, dtype=np.int64)
    for qi in prange(nq):
        s, n = starts[qi], counts[qi]
        out_q[s : s + n] = qi
        if n <= room:
            out_r[s : s + n] = buf_r[qi * room : qi * room + n]
            out_d[s : s + n] = buf_d[qi * room : qi * room + n]
        else:
            search_row(qi, q8, q64, desc64, offsets, lows, rows, tables, probe, radius,
                       max_bucket, cap, out_r, out_d, s, n)  # fmt: skip
    return out_q, out_r, out_d

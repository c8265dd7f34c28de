"""Numba kernels of the local-feature index: bucket sort per table and the bucket search."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from openhotline.matching.kernels import _popcount64, prefetch

# Descriptors are (N, 32) uint8 (OpenCV's ORB bytes); the distance check reads them as
# (N, 4) uint64 words of the same bytes (popcount of an XOR does not care about byte order).
# Table t is keyed by descriptor bytes 3t, 3t+1, 3t+2: the top `bits` bits (16..24, more in
# bigger segments) pick a directory slot (2**bits + 1 offsets); inside it the rows are sorted
# by a uint16 "low" of the key's remaining bits and the table's extra byte (31 - t, outside
# every table's key), so that keys held by thousands of rows can be read nearest-first on
# 32 bits (the cap).

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
def build_table(desc: Any, table: int, bits: int) -> Any:
    """(offsets, lows, rows) of one table: rows sorted by 24-bit key then extra byte, O(N).

    offsets (2**bits + 1) index the top `bits` bits of the key (16..24); lows[j] is (the key's
    low 24 - bits bits << 8) | extra byte of row rows[j].
    """
    n = desc.shape[0]
    b = 3 * table
    x = 31 - table
    shift = 24 - bits
    # LSD radix: stable counting sorts by the extra byte, the low key byte, the top bits.
    order = np.arange(n).astype(np.uint32)
    order = _sort_by(desc, order, x)
    order = _sort_by(desc, order, b + 2)
    offsets = np.zeros((1 << bits) + 1, dtype=np.uint32)
    for i in range(n):
        key = np.int64(desc[i, b]) << 16 | np.int64(desc[i, b + 1]) << 8 | np.int64(desc[i, b + 2])
        offsets[(key >> shift) + 1] += 1
    for k in range(1 << bits):
        offsets[k + 1] += offsets[k]
    pos = offsets[:-1].astype(np.int64)
    rows = np.empty(n, dtype=np.uint32)
    low = np.empty(n, dtype=np.uint16)
    mask = (np.int64(1) << shift) - 1
    for j in range(n):
        i = order[j]
        key = np.int64(desc[i, b]) << 16 | np.int64(desc[i, b + 1]) << 8 | np.int64(desc[i, b + 2])
        top = key >> shift
        rows[pos[top]] = i
        low[pos[top]] = np.uint16((key & mask) << 8 | np.int64(desc[i, x]))
        pos[top] += 1
    return offsets, low, rows


@njit(cache=True)
def skipped(offsets: Any, max_bucket: int) -> Any:
    """(tables, 65536) flags: the 16-bit buckets (top 16 key bits) holding over max_bucket rows."""
    tables = offsets.shape[0]
    step = (offsets.shape[1] - 1) >> 16
    out = np.zeros((tables, 65536), dtype=np.bool_)
    for t in range(tables):
        for k in range(65536):
            size = np.int64(offsets[t, (k + 1) * step]) - np.int64(offsets[t, k * step])
            out[t, k] = size > max_bucket
    return out


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
    desc64: Any, cand: Any, nc: int, w0: Any, w1: Any, w2: Any, w3: Any, radius: int,
    out_r: Any, out_d: Any, at: Any, room: Any, found: Any,
) -> Any:  # fmt: skip
    """Rows cand[:nc] (prefetched when gathered) within radius appended at out[at + found]
    (while room); the new found."""
    for c in range(nc):
        r = cand[c]
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


@njit(cache=True, inline="always")
def _prefetch_slots(qi: int, q8: Any, offsets: Any, skip: Any, tables: int, probe: bool) -> None:
    """Prefetch the directory entries that search_row(qi) will read first."""
    nprobe = 25 if probe else 1
    dlen = offsets.shape[1]
    shift = 24
    while (np.int64(1) << (24 - shift)) < dlen - 1:
        shift -= 1
    off_flat = offsets.reshape(-1)
    for t in range(tables):
        b = 3 * t
        key = np.int64(q8[qi, b]) << 16 | np.int64(q8[qi, b + 1]) << 8 | np.int64(q8[qi, b + 2])
        for p in range(nprobe):
            k = key if p == 0 else key ^ (np.int64(1) << np.int64(p - 1))
            if not skip[t, k >> 8]:
                prefetch(off_flat, t * dlen + (k >> shift))


@njit(cache=True)
def search_row(
    qi: int, q8: Any, q64: Any, desc64: Any, offsets: Any, lows: Any, rows: Any, skip: Any,
    tables: int, probe: bool, radius: int, cap: int, out_r: Any, out_d: Any, at: int, room: int,
) -> int:  # fmt: skip
    """Matches of query row qi: (row, distance) written to out_*[at:at + room]; the count.

    The count may exceed room (then only room were written): the caller grows and redoes.
    Per table, when the probed keys hold more than cap rows (cap > 0), only cap of them are
    read, nearest first on 32 bits (key and extra byte): level L is the query's key with the
    extra byte L bits away and the keys one bit away with it L - 1 bits away; the last level
    read is cut at cap rows (in probe-key and row order: older items first).

    A lookup is latency bound (a query keypoint's 6 x 25 probes are random reads in arrays
    of gigabytes at 1M items), so it runs in stages, each prefetching the next one's reads
    for every probe before any is used: directory entries, then the probed keys' lows, then
    their first rows, then (per table) the candidates' descriptors. Many misses are in flight
    at once instead of one after another; what is read, and in what order, is unchanged.
    """
    w0, w1, w2, w3 = q64[qi, 0], q64[qi, 1], q64[qi, 2], q64[qi, 3]
    nprobe = 25 if probe else 1
    m = tables * nprobe
    dlen = offsets.shape[1]
    n = lows.shape[1]
    shift = 24
    while (np.int64(1) << (24 - shift)) < dlen - 1:
        shift -= 1
    lowmask = (np.int64(1) << shift) - 1
    off_flat = offsets.reshape(-1)
    lows_flat = lows.reshape(-1)
    rows_flat = rows.reshape(-1)
    top = np.empty(m, dtype=np.int64)  # per probe: directory slot (-1: skipped), low value
    pv = np.empty(m, dtype=np.int64)
    ps = np.empty(m, dtype=np.int64)  # then its rows lows[t, ps:pe]
    pe = np.empty(m, dtype=np.int64)
    for t in range(tables):
        b = 3 * t
        key = np.int64(q8[qi, b]) << 16 | np.int64(q8[qi, b + 1]) << 8 | np.int64(q8[qi, b + 2])
        for p in range(nprobe):
            k = key if p == 0 else key ^ (np.int64(1) << np.int64(p - 1))
            i = t * nprobe + p
            pv[i] = (k & lowmask) << 8
            if skip[t, k >> 8]:
                top[i] = -1
            else:
                top[i] = k >> shift
                prefetch(off_flat, t * dlen + top[i])
    for i in range(m):
        ps[i] = pe[i] = 0
        if top[i] < 0:
            continue
        t = i // nprobe
        lo = np.int64(offsets[t, top[i]])
        hi = np.int64(offsets[t, top[i] + 1])
        if hi > lo:
            ps[i], pe[i] = lo, hi
            prefetch(lows_flat, t * n + lo)
    for i in range(m):
        if pe[i] > ps[i]:
            t = i // nprobe
            a = _lower(lows[t], ps[i], pe[i], pv[i])
            ps[i] = a
            pe[i] = _lower(lows[t], a, pe[i], pv[i] + 256)
            if pe[i] > a:
                prefetch(rows_flat, t * n + a)
    found = 0
    cand = np.empty(max(cap, 64), dtype=np.int64)
    for t in range(tables):
        qx = np.int64(q8[qi, 31 - t])
        i0 = t * nprobe
        total = 0
        for i in range(i0, i0 + nprobe):
            total += pe[i] - ps[i]
        if total > cand.shape[0] and (cap <= 0 or total <= cap):
            cand = np.empty(total, dtype=np.int64)
        nc = 0
        if cap <= 0 or total <= cap:
            for i in range(i0, i0 + nprobe):
                for j in range(ps[i], pe[i]):
                    r = np.int64(rows[t, j])
                    prefetch(desc64, r)
                    cand[nc] = r
                    nc += 1
        else:
            # Over cap: histogram of the rows' levels (distance on the 32 bits of key and
            # extra byte: the key's from the probe, 0 or 1), a sequential pass over the
            # lows; then the rows below the level that reaches cap, and that level's first
            # rows up to cap.
            hist = np.zeros(10, dtype=np.int64)
            for i in range(i0, i0 + nprobe):
                base = 0 if i == i0 else 1
                for j in range(ps[i], pe[i]):
                    hist[base + _POP8[(np.int64(lows[t, j]) ^ qx) & 255]] += 1
            last = 0
            below = 0
            while below + hist[last] < cap:
                below += hist[last]
                last += 1
            room_last = cap - below
            for i in range(i0, i0 + nprobe):
                base = 0 if i == i0 else 1
                for j in range(ps[i], pe[i]):
                    level = base + _POP8[(np.int64(lows[t, j]) ^ qx) & 255]
                    if level > last:
                        continue
                    if level == last:
                        if room_last == 0:
                            continue
                        room_last -= 1
                    r = np.int64(rows[t, j])
                    prefetch(desc64, r)
                    cand[nc] = r
                    nc += 1
        found = _check(desc64, cand, nc, w0, w1, w2, w3, radius, out_r, out_d, at, room, found)
    return found


@njit(cache=True)
def search(
    q8: Any, q64: Any, desc64: Any, offsets: Any, lows: Any, rows: Any, skip: Any, tables: int,
    probe: bool, radius: int, cap: int,
) -> Any:  # fmt: skip
    """(query row, descriptor row, distance) of every candidate within radius, one thread.

    Candidates are the rows that share a table's 24-bit key with the query, or (probe) differ
    from it in one of those 24 bits (at most cap of them per table: search_row). A row found
    by several tables is reported once per table (the caller keeps one per pair). Top-16-bit
    buckets flagged in skip (over max_bucket rows: flat patches' descriptors, thousands of
    near-identical ones) are not probed: they cannot tell items apart.
    """
    cap_out = 1024
    out_q = np.empty(cap_out, dtype=np.int64)
    out_r = np.empty(cap_out, dtype=np.int64)
    out_d = np.empty(cap_out, dtype=np.int64)
    found = 0
    for qi in range(q8.shape[0]):
        if qi + 1 < q8.shape[0]:  # the next row's directory entries load during this row
            _prefetch_slots(qi + 1, q8, offsets, skip, tables, probe)
        n = search_row(qi, q8, q64, desc64, offsets, lows, rows, skip, tables, probe, radius,
                       cap, out_r, out_d, found, cap_out - found)  # fmt: skip
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
            search_row(qi, q8, q64, desc64, offsets, lows, rows, skip, tables, probe, radius,
                       cap, out_r, out_d, found, n)  # fmt: skip
        out_q[found : found + n] = qi
        found += n
    return out_q[:found], out_r[:found], out_d[:found]


@njit(cache=True, parallel=True)
def search_parallel(
    q8: Any, q64: Any, desc64: Any, offsets: Any, lows: Any, rows: Any, skip: Any, tables: int,
    probe: bool, radius: int, cap: int,
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
        counts[qi] = search_row(qi, q8, q64, desc64, offsets, lows, rows, skip, tables, probe,
                                radius, cap, buf_r, buf_d, qi * room, room)  # fmt: skip
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
            search_row(qi, q8, q64, desc64, offsets, lows, rows, skip, tables, probe, radius,
                       cap, out_r, out_d, s, n)  # fmt: skip
    return out_q, out_r, out_d

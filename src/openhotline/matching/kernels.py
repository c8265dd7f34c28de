"""Numba kernels of the PDQ multi-index: key extraction, counting sort, radius search."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import get_num_threads, njit, prange, types
from numba.core import cgutils as _cgutils
from numba.extending import intrinsic

# Code generation helpers of the prefetch intrinsic: numba's cgutils and the llvmlite.ir
# it uses (neither is typed).
cgutils: Any = _cgutils
ir: Any = getattr(_cgutils, "ir")  # noqa: B009 (not re-exported for mypy)

# Hashes are (N, 4) uint64 arrays: word 0 holds hex digits 0-15 (bit 0 = most significant).


@njit(cache=True, inline="always")
def _popcount64(x: Any) -> Any:
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@njit(cache=True, inline="always")
def _extract(w0: Any, w1: Any, w2: Any, w3: Any, off: int, length: int) -> Any:
    """Bits [off, off+length) of the 256-bit value, as an integer (length <= 32)."""
    word = off >> 6
    bit = off & 63
    if word == 0:
        a, b = w0, w1
    elif word == 1:
        a, b = w1, w2
    elif word == 2:
        a, b = w2, w3
    else:
        a, b = w3, np.uint64(0)
    end = bit + length
    if end <= 64:
        return (a >> np.uint64(64 - end)) & np.uint64((1 << length) - 1)
    hi = a & np.uint64((1 << (64 - bit)) - 1)
    lo_len = end - 64
    return (hi << np.uint64(lo_len)) | (b >> np.uint64(64 - lo_len))


@njit(cache=True)
def extract_keys(hashes: Any, off: int, length: int, shift: int) -> Any:
    """Directory keys of every row: the substring's top (length - shift) bits."""
    n = hashes.shape[0]
    out = np.empty(n, dtype=np.uint32)
    for i in range(n):
        k = _extract(hashes[i, 0], hashes[i, 1], hashes[i, 2], hashes[i, 3], off, length)
        out[i] = np.uint32(k >> np.uint64(shift))
    return out


@njit(cache=True)
def counting_sort(keys: Any, nbuckets: int) -> Any:
    """Return (offsets, perm): rows grouped by key, stable, in O(N)."""
    n = keys.shape[0]
    offsets = np.zeros(nbuckets + 1, dtype=np.uint32)
    for i in range(n):
        offsets[keys[i] + 1] += 1
    for b in range(nbuckets):
        offsets[b + 1] += offsets[b]
    pos = offsets[:-1].copy()
    perm = np.empty(n, dtype=np.uint32)
    for i in range(n):
        k = keys[i]
        perm[pos[k]] = i
        pos[k] += 1
    return offsets, perm


@njit(cache=True)
def flip_masks(nbits: int, radius: int) -> Any:
    """All masks of nbits bits with at most radius bits set (the probes of one table)."""
    # Count first: sum of C(nbits, k) for k <= radius.
    total = 0
    c = 1
    for k in range(radius + 1):
        total += c
        c = c * (nbits - k) // (k + 1)
    out = np.empty(total, dtype=np.uint32)
    out[0] = 0
    n = 1
    idx = np.empty(radius + 1, dtype=np.int64)
    for k in range(1, radius + 1):
        for j in range(k):
            idx[j] = j
        while True:
            m = np.uint32(0)
            for j in range(k):
                m |= np.uint32(1) << np.uint32(idx[j])
            out[n] = m
            n += 1
            # next combination
            j = k - 1
            while j >= 0 and idx[j] == nbits - k + j:
                j -= 1
            if j < 0:
                break
            idx[j] += 1
            for t in range(j + 1, k):
                idx[t] = idx[t - 1] + 1
    return out


VERIFY_BLOCK = 2048  # candidates gathered before their hashes are read (independent loads)
# How many probes (or candidates) ahead the staged kernel prefetches: enough to cover a
# DRAM miss (~100-150 ns here) with the work of the items in between, few enough that
# the prefetched lines are still in L1/L2 when they are used.
PREFETCH_AHEAD = 24


def _prefetch(typingctx: Any, arr: Any, idx: Any) -> Any:
    """Software prefetch (llvm.prefetch, read, keep in all levels) of arr[idx] (a 1-D array)
    or of row idx of a 2-D one: it retires at once, so many misses are in flight without
    the out-of-order window filling up, and a wrong address is harmless (no fault)."""
    if not isinstance(arr, types.Array) or not isinstance(idx, types.Integer):
        return None
    sig = types.void(arr, idx)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ind = context.cast(builder, args[1], signature.args[1], types.intp)
        zero = context.get_constant(types.intp, 0)
        ptr = cgutils.get_item_pointer(
            context, builder, aryty, ary, [ind] + [zero] * (aryty.ndim - 1), wraparound=False
        )
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        args3 = [ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)]
        builder.call(fn, [builder.bitcast(ptr, i8p), *args3])
        return context.get_dummy_value()

    return sig, codegen


prefetch: Any = intrinsic(_prefetch)


@njit(cache=True, inline="always")
def _is_alive(alive: Any, row: Any) -> Any:
    """Bit `row` of a packed (little bit order) alive bitset."""
    return (alive[row >> 3] >> (row & 7)) & 1


@njit(cache=True)
def _verify(
    q: Any,
    qkeys: Any,
    hashes: Any,
    alive: Any,
    offs: Any,
    lens: Any,
    radii: Any,
    radius: int,
    rows: Any,
    rtab: Any,
    ncand: int,
    out_pos: Any,
    out_dist: Any,
    found: int,
) -> int:
    """Check a block of candidate rows on their full hash; append the hits after `found`."""
    q0, q1, q2, q3 = q[0], q[1], q[2], q[3]
    cap = out_pos.shape[0]
    for c in range(ncand):
        row = rows[c]
        h0 = hashes[row, 0]
        h1 = hashes[row, 1]
        h2 = hashes[row, 2]
        h3 = hashes[row, 3]
        d = (
            _popcount64(h0 ^ q0)
            + _popcount64(h1 ^ q1)
            + _popcount64(h2 ^ q2)
            + _popcount64(h3 ^ q3)
        )
        if d > radius:
            continue
        if not _is_alive(alive, row):
            continue
        # A candidate of the primary table (every row of a bucket) or one whose residual
        # bits were only partly checked may not qualify in its table: then another table
        # reports it (the pigeonhole bound guarantees one does).
        t = rtab[c]
        kt = _extract(h0, h1, h2, h3, offs[t], lens[t])
        if _popcount64(kt ^ qkeys[t]) > radii[t]:
            continue
        # Report only from the first table where the row qualifies (no duplicates).
        dup = False
        for u in range(t):
            if radii[u] < 0:
                continue
            ku = _extract(h0, h1, h2, h3, offs[u], lens[u])
            if _popcount64(ku ^ qkeys[u]) <= radii[u]:
                dup = True
                break
        if dup:
            continue
        if found < cap:
            out_pos[found] = row
            out_dist[found] = d
        found += 1
    return found


@njit(cache=True)
def _search_one(
    q: Any,
    hashes: Any,
    alive: Any,
    offs: Any,
    lens: Any,
    shifts: Any,
    kept: Any,
    primary: int,
    radii: Any,
    dir_offsets: Any,
    dir_starts: Any,
    perms: Any,
    perm_starts: Any,
    masks: Any,
    mask_starts: Any,
    mask_counts: Any,
    radius: int,
    out_pos: Any,
    out_dist: Any,
) -> int:
    """The plain search of one query (loads in program order, a branch per entry): the
    reference _search_staged is tested against; searches use _search_staged."""
    q0, q1, q2, q3 = q[0], q[1], q[2], q[3]
    ntables = offs.shape[0]
    qkeys = np.empty(ntables, dtype=np.uint64)
    qres = np.empty(ntables, dtype=np.uint32)
    for t in range(ntables):
        qkeys[t] = _extract(q0, q1, q2, q3, offs[t], lens[t])
        # The residual bits an entry keeps: the top kept[t] of the shifts[t] below the key.
        low = qkeys[t] & np.uint64((1 << shifts[t]) - 1)
        qres[t] = np.uint32(low >> np.uint64(shifts[t] - kept[t]))
    # Phase 1: directory look-ups of every probe (independent loads, good memory parallelism).
    nprobes = 0
    for t in range(ntables):
        if radii[t] >= 0:
            nprobes += mask_counts[t]
    lo_arr = np.empty(nprobes, dtype=np.int64)
    hi_arr = np.empty(nprobes, dtype=np.int64)
    tab_arr = np.empty(nprobes, dtype=np.int32)
    budget_arr = np.empty(nprobes, dtype=np.int32)
    k = 0
    for t in range(ntables):
        if radii[t] < 0:
            continue
        qdir = np.uint32(qkeys[t] >> np.uint64(shifts[t]))
        d0 = dir_starts[t]
        m0 = mask_starts[t]
        p0 = perm_starts[t]
        for mi in range(mask_counts[t]):
            mask = masks[m0 + mi]
            probe = qdir ^ mask
            lo = np.int64(dir_offsets[d0 + probe])
            hi = np.int64(dir_offsets[d0 + probe + 1])
            if hi > lo:  # most probes of a big table meet a few rows; skip the empty ones
                lo_arr[k] = lo + p0
                hi_arr[k] = hi + p0
                tab_arr[k] = t
                budget_arr[k] = radii[t] - _popcount64(np.uint64(mask))
                k += 1
    nprobes = k
    # Read the first entry of every bucket in a loop of its own: independent loads with no
    # unpredictable branch between them, so the core keeps many in flight (a software
    # prefetch); phase 2, whose filter branches flush the pipeline, then finds them cached.
    first = np.empty(nprobes, dtype=np.uint32)
    for k in range(nprobes):
        if tab_arr[k] == primary:
            first[k] = np.uint32(hashes[lo_arr[k], 0] & np.uint64(0xFFFFFFFF))
        else:
            first[k] = perms[lo_arr[k]]
    # Phase 2: rows whose kept residual bits are within the table radius, verified in
    # blocks so the hash reads overlap. The primary table's buckets are rows of the hash
    # array itself (stored in its order): every row of the bucket is a candidate, read
    # sequentially.
    rows = np.empty(VERIFY_BLOCK, dtype=np.int64)
    rtab = np.empty(VERIFY_BLOCK, dtype=np.int32)
    c = 0
    found = 0
    for k in range(nprobes):
        t = tab_arr[k]
        if t == primary:
            for row in range(lo_arr[k], hi_arr[k]):
                rows[c] = row
                rtab[c] = t
                c += 1
                if c == VERIFY_BLOCK:
                    found = _verify(
                        q, qkeys, hashes, alive, offs, lens, radii, radius, rows, rtab, c,
                        out_pos, out_dist, found,
                    )  # fmt: skip
                    c = 0
            continue
        kp = np.uint32(kept[t])
        rmask = np.uint32((1 << kept[t]) - 1)
        qr = qres[t]
        budget = budget_arr[k]
        lo = lo_arr[k]
        for j in range(lo, hi_arr[k]):
            v = first[k] if j == lo else perms[j]
            if kp > 0 and _popcount64(np.uint64((v & rmask) ^ qr)) > budget:
                continue
            rows[c] = np.int64(v >> kp)
            rtab[c] = t
            c += 1
            if c == VERIFY_BLOCK:
                found = _verify(
                    q, qkeys, hashes, alive, offs, lens, radii, radius, rows, rtab, c,
                    out_pos, out_dist, found,
                )  # fmt: skip
                c = 0
    return _verify(
        q, qkeys, hashes, alive, offs, lens, radii, radius, rows, rtab, c, out_pos, out_dist,
        found,
    )  # fmt: skip


@njit(cache=True, inline="always")
def _prefetch_row(hashes: Any, row: Any) -> None:
    """Prefetch a 32-byte hash row: its first and last word (a row not aligned to 32 bytes,
    as in numpy's own allocations, spans two cache lines)."""
    prefetch(hashes, row)
    prefetch(hashes[row], 3)


@njit(cache=True)
def _verify_staged(
    q: Any,
    qkeys: Any,
    hashes: Any,
    alive: Any,
    offs: Any,
    lens: Any,
    radii: Any,
    radius: int,
    rows: Any,
    rtab: Any,
    ncand: int,
    out_pos: Any,
    out_dist: Any,
    found: int,
) -> int:
    """_verify with each candidate's hash row prefetched PREFETCH_AHEAD candidates early."""
    for c in range(min(ncand, PREFETCH_AHEAD)):
        _prefetch_row(hashes, rows[c])
    q0, q1, q2, q3 = q[0], q[1], q[2], q[3]
    cap = out_pos.shape[0]
    for c in range(ncand):
        if c + PREFETCH_AHEAD < ncand:
            _prefetch_row(hashes, rows[c + PREFETCH_AHEAD])
        row = rows[c]
        h0 = hashes[row, 0]
        h1 = hashes[row, 1]
        h2 = hashes[row, 2]
        h3 = hashes[row, 3]
        d = (
            _popcount64(h0 ^ q0)
            + _popcount64(h1 ^ q1)
            + _popcount64(h2 ^ q2)
            + _popcount64(h3 ^ q3)
        )
        if d > radius:
            continue
        if not _is_alive(alive, row):
            continue
        # As in _verify: the row must qualify in the table that produced it, and be
        # reported only from the first table where it qualifies.
        t = rtab[c]
        kt = _extract(h0, h1, h2, h3, offs[t], lens[t])
        if _popcount64(kt ^ qkeys[t]) > radii[t]:
            continue
        dup = False
        for u in range(t):
            if radii[u] < 0:
                continue
            ku = _extract(h0, h1, h2, h3, offs[u], lens[u])
            if _popcount64(ku ^ qkeys[u]) <= radii[u]:
                dup = True
                break
        if dup:
            continue
        if found < cap:
            out_pos[found] = row
            out_dist[found] = d
        found += 1
    return found


@njit(cache=True, inline="always")
def _prefetch_bucket(hashes: Any, perms: Any, primary: bool, lo: Any, hi: Any) -> None:
    """Prefetch a bucket: up to three cache lines of permutation entries (a bucket of a
    100M-row table holds about 24 entries, 96 bytes), or the first hash rows of a primary
    bucket (the rest are read sequentially, which the hardware prefetcher follows)."""
    if primary:
        _prefetch_row(hashes, lo)
        prefetch(hashes, min(lo + 2, hi - 1))
    else:
        prefetch(perms, lo)
        prefetch(perms, min(lo + 16, hi - 1))
        prefetch(perms, hi - 1)


@njit(cache=True)
def _search_staged(
    q: Any,
    hashes: Any,
    alive: Any,
    offs: Any,
    lens: Any,
    shifts: Any,
    kept: Any,
    primary: int,
    radii: Any,
    dir_offsets: Any,
    dir_starts: Any,
    perms: Any,
    perm_starts: Any,
    masks: Any,
    mask_starts: Any,
    mask_counts: Any,
    radius: int,
    out_pos: Any,
    out_dist: Any,
) -> int:
    """_search_one as a software pipeline: every stage (directory entries, buckets,
    candidate hash rows) prefetches its random reads PREFETCH_AHEAD items ahead and the
    scan appends candidates without a branch, so a query keeps many DRAM misses in flight
    instead of one or two (it is latency bound: about 33,000 random reads at 100M)."""
    q0, q1, q2, q3 = q[0], q[1], q[2], q[3]
    ntables = offs.shape[0]
    qkeys = np.empty(ntables, dtype=np.uint64)
    qres = np.empty(ntables, dtype=np.uint32)
    for t in range(ntables):
        qkeys[t] = _extract(q0, q1, q2, q3, offs[t], lens[t])
        low = qkeys[t] & np.uint64((1 << shifts[t]) - 1)
        qres[t] = np.uint32(low >> np.uint64(shifts[t] - kept[t]))
    # Stage 1: the directory slot of every probe (arithmetic only, no memory).
    nprobes = 0
    for t in range(ntables):
        if radii[t] >= 0:
            nprobes += mask_counts[t]
    slot = np.empty(nprobes, dtype=np.int64)
    tab_arr = np.empty(nprobes, dtype=np.int32)
    budget_arr = np.empty(nprobes, dtype=np.int32)
    k = 0
    for t in range(ntables):
        if radii[t] < 0:
            continue
        qdir = np.uint32(qkeys[t] >> np.uint64(shifts[t]))
        d0 = dir_starts[t]
        m0 = mask_starts[t]
        for mi in range(mask_counts[t]):
            mask = masks[m0 + mi]
            slot[k] = d0 + np.int64(qdir ^ mask)
            tab_arr[k] = t
            budget_arr[k] = radii[t] - _popcount64(np.uint64(mask))
            k += 1
    # Stage 2: directory entries, prefetched ahead; empty buckets are dropped without a
    # branch (the write happens anyway, the count advances only for a non-empty bucket).
    lo_arr = np.empty(nprobes, dtype=np.int64)
    hi_arr = np.empty(nprobes, dtype=np.int64)
    for k in range(min(nprobes, PREFETCH_AHEAD)):
        prefetch(dir_offsets, slot[k])
    n = 0
    for k in range(nprobes):
        if k + PREFETCH_AHEAD < nprobes:
            prefetch(dir_offsets, slot[k + PREFETCH_AHEAD])
        s = slot[k]
        t = tab_arr[k]
        lo = np.int64(dir_offsets[s])
        hi = np.int64(dir_offsets[s + 1])
        p0 = perm_starts[t]
        lo_arr[n] = lo + p0
        hi_arr[n] = hi + p0
        tab_arr[n] = t
        budget_arr[n] = budget_arr[k]
        n += int(hi > lo)
    # Stage 3: scan the buckets (prefetched ahead) into blocks of candidates, verified
    # (with their hash rows prefetched ahead) when a block is full.
    for k in range(min(n, PREFETCH_AHEAD)):
        _prefetch_bucket(hashes, perms, tab_arr[k] == primary, lo_arr[k], hi_arr[k])
    rows = np.empty(VERIFY_BLOCK, dtype=np.int64)
    rtab = np.empty(VERIFY_BLOCK, dtype=np.int32)
    c = 0
    found = 0
    for k in range(n):
        a = k + PREFETCH_AHEAD
        if a < n:
            _prefetch_bucket(hashes, perms, tab_arr[a] == primary, lo_arr[a], hi_arr[a])
        t = tab_arr[k]
        if t == primary:  # every row of a primary bucket is a candidate
            for row in range(lo_arr[k], hi_arr[k]):
                rows[c] = row
                rtab[c] = t
                c += 1
                if c == VERIFY_BLOCK:
                    found = _verify_staged(
                        q, qkeys, hashes, alive, offs, lens, radii, radius, rows, rtab, c,
                        out_pos, out_dist, found,
                    )  # fmt: skip
                    c = 0
            continue
        kp = np.uint32(kept[t])
        rmask = np.uint32((1 << kept[t]) - 1)
        qr = qres[t]
        budget = budget_arr[k]
        for j in range(lo_arr[k], hi_arr[k]):
            v = perms[j]
            rows[c] = np.int64(v >> kp)
            rtab[c] = t
            # Kept residual bits within the table's budget (always, when none are kept):
            # counted, not branched on, as the outcome is random.
            c += int(_popcount64(np.uint64((v & rmask) ^ qr)) <= budget)
            if c == VERIFY_BLOCK:
                found = _verify_staged(
                    q, qkeys, hashes, alive, offs, lens, radii, radius, rows, rtab, c,
                    out_pos, out_dist, found,
                )  # fmt: skip
                c = 0
    return _verify_staged(
        q, qkeys, hashes, alive, offs, lens, radii, radius, rows, rtab, c, out_pos, out_dist,
        found,
    )  # fmt: skip


@njit(cache=True)
def search_one(
    q: Any,
    hashes: Any,
    alive: Any,
    offs: Any,
    lens: Any,
    shifts: Any,
    kept: Any,
    primary: int,
    radii: Any,
    dir_offsets: Any,
    dir_starts: Any,
    perms: Any,
    perm_starts: Any,
    masks: Any,
    mask_starts: Any,
    mask_counts: Any,
    radius: int,
    cap: int,
) -> Any:
    """Rows within radius of q, growing the output buffer when a query has many hits."""
    while True:
        out_pos = np.empty(cap, dtype=np.int64)
        out_dist = np.empty(cap, dtype=np.int32)
        n = _search_staged(
            q, hashes, alive, offs, lens, shifts, kept, primary, radii, dir_offsets,
            dir_starts, perms, perm_starts, masks, mask_starts, mask_counts, radius, out_pos,
            out_dist,
        )  # fmt: skip
        if n <= cap:
            return out_pos[:n], out_dist[:n]
        cap = n


@njit(cache=True, parallel=True)
def search_batch(
    queries: Any,
    hashes: Any,
    alive: Any,
    offs: Any,
    lens: Any,
    shifts: Any,
    kept: Any,
    primary: int,
    radii: Any,
    dir_offsets: Any,
    dir_starts: Any,
    perms: Any,
    perm_starts: Any,
    masks: Any,
    mask_starts: Any,
    mask_counts: Any,
    radius: int,
    cap: int,
) -> Any:
    """Search many queries in parallel; returns (counts, positions, distances) per query."""
    nq = queries.shape[0]
    counts = np.zeros(nq, dtype=np.int64)
    pos = np.empty((nq, cap), dtype=np.int64)
    dist = np.empty((nq, cap), dtype=np.int32)
    for i in prange(nq):
        counts[i] = _search_staged(
            queries[i], hashes, alive, offs, lens, shifts, kept, primary, radii, dir_offsets,
            dir_starts, perms, perm_starts, masks, mask_starts, mask_counts, radius, pos[i],
            dist[i],
        )  # fmt: skip
    return counts, pos, dist


# Batch search (search_batch_sorted): queries interleaved in one pipeline per thread, with
# the directory probes and the candidate rows of a group of queries put in address order.
# Measured (bench/RESULTS-s24-batch.md): 128 queries read more of each page per sweep than
# 32 or 64; scratch 16 bytes a probe, so 20 MB a thread at 100M rows (freed on return).
BATCH_GROUP = 128  # queries a thread searches together
BATCH_CANDIDATES = 1 << 19  # candidate rows gathered (and sorted) before they are verified
SORT_BITS = 12  # address ranges of the coarse sort (2^12: its counters stay in L2)
SCAN_WINDOW = 32  # buckets up to this size are scanned as a fixed-size window
# Windowed scans read SCAN_WINDOW entries whatever the bucket's size: worth it from about
# this many rows a bucket on average (100M rows: 24), not for the small buckets below 64M.
WINDOW_FROM_BUCKET = 12


@njit(cache=True)
def _coarse_sort(
    keys: Any, info: Any, n: int, kmax: int, out_keys: Any, out_info: Any, hist: Any
) -> None:
    """Group (keys, info)[:n] by the top SORT_BITS bits of key (keys <= kmax) into out_*:
    one counting-sort pass, enough to make the reads sweep the arrays nearly in order."""
    nb = hist.shape[0] - 1
    shift = 0
    while (kmax >> shift) >= nb:
        shift += 1
    for b in range(nb + 1):
        hist[b] = 0
    for i in range(n):
        hist[(keys[i] >> shift) + 1] += 1
    for b in range(nb):
        hist[b + 1] += hist[b]
    for i in range(n):
        b = keys[i] >> shift
        p = hist[b]
        out_keys[p] = keys[i]
        out_info[p] = info[i]
        hist[b] = p + 1


@njit(cache=True)
def _verify_many(
    queries: Any,
    g0: int,
    qkeys: Any,
    hashes: Any,
    alive: Any,
    offs: Any,
    lens: Any,
    radii: Any,
    radius: int,
    rows: Any,
    cinfo: Any,
    ncand: int,
    counts: Any,
    pos: Any,
    dist: Any,
) -> None:
    """_verify_staged for candidates of queries g0, g0 + 1, ... (cinfo = (query - g0) << 6 |
    table): each query's hits go to its row of pos/dist, counted in counts (also past cap)."""
    for c in range(min(ncand, PREFETCH_AHEAD)):
        _prefetch_row(hashes, rows[c])
    cap = pos.shape[1]
    for c in range(ncand):
        if c + PREFETCH_AHEAD < ncand:
            _prefetch_row(hashes, rows[c + PREFETCH_AHEAD])
        row = np.int64(rows[c])
        qi = g0 + (cinfo[c] >> 6)
        h0 = hashes[row, 0]
        h1 = hashes[row, 1]
        h2 = hashes[row, 2]
        h3 = hashes[row, 3]
        d = (
            _popcount64(h0 ^ queries[qi, 0])
            + _popcount64(h1 ^ queries[qi, 1])
            + _popcount64(h2 ^ queries[qi, 2])
            + _popcount64(h3 ^ queries[qi, 3])
        )
        if d > radius:
            continue
        if not _is_alive(alive, row):
            continue
        # As in _verify: the row must qualify in the table that produced it, and be
        # reported only from the first table where it qualifies.
        t = cinfo[c] & 63
        kt = _extract(h0, h1, h2, h3, offs[t], lens[t])
        if _popcount64(kt ^ qkeys[qi, t]) > radii[t]:
            continue
        dup = False
        for u in range(t):
            if radii[u] < 0:
                continue
            ku = _extract(h0, h1, h2, h3, offs[u], lens[u])
            if _popcount64(ku ^ qkeys[qi, u]) <= radii[u]:
                dup = True
                break
        if dup:
            continue
        k = counts[qi]
        if k < cap:
            pos[qi, k] = row
            dist[qi, k] = d
        counts[qi] = k + 1


@njit(cache=True)
def _flush_candidates(
    queries: Any,
    g0: int,
    qkeys: Any,
    hashes: Any,
    alive: Any,
    offs: Any,
    lens: Any,
    radii: Any,
    radius: int,
    rows: Any,
    cinfo: Any,
    ncand: int,
    sort: bool,
    srows: Any,
    sinfo: Any,
    hist: Any,
    counts: Any,
    pos: Any,
    dist: Any,
) -> None:
    """Verify a buffer of candidates, in row order when sort is set."""
    if sort and ncand > PREFETCH_AHEAD:
        _coarse_sort(rows, cinfo, ncand, hashes.shape[0], srows, sinfo, hist)
        _verify_many(
            queries, g0, qkeys, hashes, alive, offs, lens, radii, radius, srows, sinfo, ncand,
            counts, pos, dist,
        )  # fmt: skip
    else:
        _verify_many(
            queries, g0, qkeys, hashes, alive, offs, lens, radii, radius, rows, cinfo, ncand,
            counts, pos, dist,
        )  # fmt: skip


@njit(cache=True, inline="always")
def _prefetch_scan(hashes: Any, perms: Any, primary: bool, lo: Any, hi: Any, window: bool) -> None:
    """_prefetch_bucket, or with window the SCAN_WINDOW entries a windowed scan reads."""
    if window and not primary:
        prefetch(perms, lo)
        prefetch(perms, lo + SCAN_WINDOW // 2)
        prefetch(perms, lo + SCAN_WINDOW - 1)  # past the end is harmless (no fault)
    else:
        _prefetch_bucket(hashes, perms, primary, lo, hi)


@njit(cache=True)
def _search_group(
    queries: Any,
    g0: int,
    g1: int,
    qkeys: Any,
    qres: Any,
    hashes: Any,
    alive: Any,
    offs: Any,
    lens: Any,
    shifts: Any,
    kept: Any,
    primary: int,
    radii: Any,
    dir_offsets: Any,
    dir_starts: Any,
    perms: Any,
    perm_starts: Any,
    masks: Any,
    mask_starts: Any,
    mask_counts: Any,
    radius: int,
    sort: bool,
    window: bool,
    small: Any,
    hist: Any,
    counts: Any,
    pos: Any,
    dist: Any,
) -> None:
    """_search_staged for queries g0..g1-1 as one pipeline: their probes, buckets and
    candidates go through each stage together (no pipeline drain between queries), and
    with sort the probes and the candidates are read in address order."""
    slot, pinfo, slot2, pinfo2, rows, cinfo, srows, sinfo = small
    ntables = offs.shape[0]
    # Stage 1: directory slots of every probe of every query (arithmetic only).
    # pinfo packs (query - g0) << 12 | table << 6 | the probe's residual budget.
    k = 0
    for qi in range(g0, g1):
        for t in range(ntables):
            if radii[t] < 0:
                continue
            qdir = np.uint32(qkeys[qi, t] >> np.uint64(shifts[t]))
            d0 = dir_starts[t]
            m0 = mask_starts[t]
            base = (np.int64(qi - g0) << 12) | (np.int64(t) << 6) | np.int64(radii[t])
            for mi in range(mask_counts[t]):
                mask = masks[m0 + mi]
                slot[k] = d0 + np.int64(qdir ^ mask)
                pinfo[k] = base - np.int64(_popcount64(np.uint64(mask)))
                k += 1
    nprobes = k
    if sort:
        _coarse_sort(slot, pinfo, nprobes, dir_offsets.shape[0], slot2, pinfo2, hist)
        sl, pi = slot2, pinfo2
    else:
        sl, pi = slot, pinfo
    # Stage 2: directory entries, prefetched ahead; empty buckets dropped without a branch.
    lo_arr, hi_arr = slot, pinfo2
    for k in range(min(nprobes, PREFETCH_AHEAD)):
        prefetch(dir_offsets, sl[k])
    n = 0
    for k in range(nprobes):
        if k + PREFETCH_AHEAD < nprobes:
            prefetch(dir_offsets, sl[k + PREFETCH_AHEAD])
        s = np.int64(sl[k])
        inf = pi[k]
        p0 = perm_starts[(inf >> 6) & 63]
        lo = np.int64(dir_offsets[s])
        hi = np.int64(dir_offsets[s + 1])
        # Written at n <= k, behind the reads: stage 1's slot and pinfo and the sort's
        # pinfo2 hold each bucket's start, info and end from here on.
        lo_arr[n] = lo + p0
        hi_arr[n] = hi + p0
        pinfo[n] = inf
        n += int(hi > lo)
    # Stage 3: scan the buckets (prefetched ahead) into the candidate buffer, verified
    # (sorted by row when sort is set) each time it fills.
    cap_c = rows.shape[0]
    window = window and cap_c >= 2 * SCAN_WINDOW
    for k in range(min(n, PREFETCH_AHEAD)):
        t = (pinfo[k] >> 6) & 63
        _prefetch_scan(hashes, perms, t == primary, lo_arr[k], hi_arr[k], window)
    nperms = perms.shape[0]
    c: Any = 0
    for k in range(n):
        a = k + PREFETCH_AHEAD
        if a < n:
            ta = (pinfo[a] >> 6) & 63
            _prefetch_scan(hashes, perms, ta == primary, lo_arr[a], hi_arr[a], window)
        inf = pinfo[k]
        t = (inf >> 6) & 63
        ci = inf >> 6  # (query - g0) << 6 | table
        if t == primary:  # every row of a primary bucket is a candidate
            for row in range(lo_arr[k], hi_arr[k]):
                rows[c] = np.int32(row)
                cinfo[c] = ci
                c += 1
                if c == cap_c:
                    _flush_candidates(
                        queries, g0, qkeys, hashes, alive, offs, lens, radii, radius, rows,
                        cinfo, c, sort, srows, sinfo, hist, counts, pos, dist,
                    )  # fmt: skip
                    c = 0
            continue
        kp = np.uint32(kept[t])
        rmask = np.uint32((1 << kept[t]) - 1)
        qr = qres[g0 + (inf >> 12), t]
        budget = inf & 63
        lo = lo_arr[k]
        size = hi_arr[k] - lo
        if window and size <= SCAN_WINDOW and lo + SCAN_WINDOW <= nperms:
            # A fixed count of entries (unrolled, no loop exit to mispredict): the passing
            # ones as bits of m, past the bucket's end masked off; the first two written
            # unconditionally (few entries pass: about one a bucket), more in a loop.
            m = np.uint64(0)
            for i in range(SCAN_WINDOW):
                v = perms[lo + i]
                ok = _popcount64(np.uint64((v & rmask) ^ qr)) <= budget
                m |= np.uint64(ok) << np.uint64(i)
            m &= (np.uint64(1) << np.uint64(size)) - np.uint64(1)
            if c + SCAN_WINDOW >= cap_c:  # room for the whole window, and one more
                _flush_candidates(
                    queries, g0, qkeys, hashes, alive, offs, lens, radii, radius, rows, cinfo,
                    c, sort, srows, sinfo, hist, counts, pos, dist,
                )  # fmt: skip
                c = 0
            npass = np.int64(_popcount64(m))
            b0 = _popcount64((m & (~m + np.uint64(1))) - np.uint64(1)) & np.uint64(31)
            m &= m - np.uint64(1)
            b1 = _popcount64((m & (~m + np.uint64(1))) - np.uint64(1)) & np.uint64(31)
            m &= m - np.uint64(1)
            rows[c] = np.int32(perms[lo + np.int64(b0)] >> kp)
            cinfo[c] = ci
            rows[c + 1] = np.int32(perms[lo + np.int64(b1)] >> kp)
            cinfo[c + 1] = ci
            c += 2 if npass > 2 else npass
            while m != np.uint64(0):
                b2 = _popcount64((m & (~m + np.uint64(1))) - np.uint64(1))
                m &= m - np.uint64(1)
                rows[c] = np.int32(perms[lo + np.int64(b2)] >> kp)
                cinfo[c] = ci
                c += 1
            continue
        for j in range(lo, hi_arr[k]):
            v = perms[j]
            rows[c] = np.int32(v >> kp)
            cinfo[c] = ci
            c += int(_popcount64(np.uint64((v & rmask) ^ qr)) <= budget)
            if c == cap_c:
                _flush_candidates(
                    queries, g0, qkeys, hashes, alive, offs, lens, radii, radius, rows, cinfo,
                    c, sort, srows, sinfo, hist, counts, pos, dist,
                )  # fmt: skip
                c = 0
    _flush_candidates(
        queries, g0, qkeys, hashes, alive, offs, lens, radii, radius, rows, cinfo, c, sort,
        srows, sinfo, hist, counts, pos, dist,
    )  # fmt: skip


@njit(cache=True, parallel=True)
def search_batch_sorted(
    queries: Any,
    hashes: Any,
    alive: Any,
    offs: Any,
    lens: Any,
    shifts: Any,
    kept: Any,
    primary: int,
    radii: Any,
    dir_offsets: Any,
    dir_starts: Any,
    perms: Any,
    perm_starts: Any,
    masks: Any,
    mask_starts: Any,
    mask_counts: Any,
    radius: int,
    cap: int,
    group: int,
    sort: bool,
    ncand: int,
    threads: int,
    window: bool,
) -> Any:
    """search_batch with each of `threads` threads searching `group` queries at a time as
    one pipeline (_search_group); same results, each query's in any order."""
    nq = queries.shape[0]
    ntables = offs.shape[0]
    counts = np.zeros(nq, dtype=np.int64)
    pos = np.empty((nq, cap), dtype=np.int64)
    dist = np.empty((nq, cap), dtype=np.int32)
    qkeys = np.empty((nq, ntables), dtype=np.uint64)
    qres = np.empty((nq, ntables), dtype=np.uint32)
    for qi in range(nq):
        for t in range(ntables):
            key = _extract(queries[qi, 0], queries[qi, 1], queries[qi, 2], queries[qi, 3],
                           offs[t], lens[t])  # fmt: skip
            qkeys[qi, t] = key
            low = key & np.uint64((1 << shifts[t]) - 1)
            qres[qi, t] = np.uint32(low >> np.uint64(shifts[t] - kept[t]))
    per_query = 0
    for t in range(ntables):
        if radii[t] >= 0:
            per_query += mask_counts[t]
    group = max(1, min(group, nq, 1 << 19))  # (query - g0) fits the packed infos
    ngroups = (nq + group - 1) // group
    nworkers = max(0, min(threads, ngroups))
    for w in prange(nworkers):
        # Scratch once per thread (a fresh allocation per group would fault its pages in).
        np_ = per_query * group
        # 32-bit slots, entry positions, rows and packed infos (all < 2^31: a segment has
        # at most 2^27 rows and 10 permutations): 16 bytes a probe, 16 a candidate, so
        # about 10 MB of probes and 8 MB of candidates a thread at 100M rows, group 64.
        small = (
            np.empty(np_, np.int32), np.empty(np_, np.int32), np.empty(np_, np.int32),
            np.empty(np_, np.int32), np.empty(ncand, np.int32), np.empty(ncand, np.int32),
            np.empty(ncand, np.int32), np.empty(ncand, np.int32),
        )  # fmt: skip
        hist = np.empty((1 << SORT_BITS) + 1, np.int64)
        for g in range(w, ngroups, nworkers):
            g0 = g * group
            g1 = min(nq, g0 + group)
            _search_group(
                queries, g0, g1, qkeys, qres, hashes, alive, offs, lens, shifts, kept,
                primary, radii, dir_offsets, dir_starts, perms, perm_starts, masks,
                mask_starts, mask_counts, radius, sort, window, small, hist, counts, pos, dist,
            )  # fmt: skip
    return counts, pos, dist


def search_many(queries: Any, *args: Any, window: bool) -> Any:
    """search_batch_sorted with the batch settings above on all of numba's threads; args
    are search_batch's after the queries (the segment's arrays, radius, cap)."""
    kernel: Any = search_batch_sorted  # a numba dispatcher (untyped)
    return kernel(queries, *args, BATCH_GROUP, True, BATCH_CANDIDATES, get_num_threads(), window)


@njit(cache=True)
def brute_force(q: Any, hashes: Any, alive: Any, radius: int) -> Any:
    """Positions and distances of live rows within radius of q (linear scan)."""
    n = hashes.shape[0]
    q0, q1, q2, q3 = q[0], q[1], q[2], q[3]
    tmp_pos = np.empty(n, dtype=np.int64)
    tmp_dist = np.empty(n, dtype=np.int32)
    k = 0
    for i in range(n):
        d = (
            _popcount64(hashes[i, 0] ^ q0)
            + _popcount64(hashes[i, 1] ^ q1)
            + _popcount64(hashes[i, 2] ^ q2)
            + _popcount64(hashes[i, 3] ^ q3)
        )
        if d <= radius and alive[i]:
            tmp_pos[k] = i
            tmp_dist[k] = d
            k += 1
    return tmp_pos[:k].copy(), tmp_dist[:k].copy()


@njit(cache=True)
def brute_force_bits(q: Any, hashes: Any, alive: Any, radius: int) -> Any:
    """As brute_force, with the alive flags as a packed bitset (a segment's)."""
    n = hashes.shape[0]
    q0, q1, q2, q3 = q[0], q[1], q[2], q[3]
    tmp_pos = np.empty(n, dtype=np.int64)
    tmp_dist = np.empty(n, dtype=np.int32)
    k = 0
    for i in range(n):
        d = (
            _popcount64(hashes[i, 0] ^ q0)
            + _popcount64(hashes[i, 1] ^ q1)
            + _popcount64(hashes[i, 2] ^ q2)
            + _popcount64(hashes[i, 3] ^ q3)
        )
        if d <= radius and _is_alive(alive, i):
            tmp_pos[k] = i
            tmp_dist[k] = d
            k += 1
    return tmp_pos[:k].copy(), tmp_dist[:k].copy()


@njit(cache=True)
def rows_by_hash(
    words: Any,
    keys: Any,
    valid: Any,
    hashes: Any,
    ids: Any,
    off: int,
    length: int,
    shift: int,
    dir_offsets: Any,
) -> Any:
    """Row of each (id key, hash) pair, found through its primary-table bucket (-1 if none)."""
    out = np.full(words.shape[0], -1, dtype=np.int64)
    for i in range(words.shape[0]):
        if not valid[i]:
            continue
        w0, w1, w2, w3 = words[i, 0], words[i, 1], words[i, 2], words[i, 3]
        b = _extract(w0, w1, w2, w3, off, length) >> np.uint64(shift)
        for row in range(np.int64(dir_offsets[b]), np.int64(dir_offsets[b + 1])):
            if (
                ids[row] == keys[i]
                and hashes[row, 0] == w0
                and hashes[row, 1] == w1
                and hashes[row, 2] == w2
                and hashes[row, 3] == w3
            ):
                out[i] = row
                break
    return out


@njit(cache=True)
def rows_by_scan(ids: Any, sorted_keys: Any) -> Any:
    """Row of each of sorted_keys (unique, ascending) in an unordered id column, -1 if none:
    one pass over the column (look-ups by id alone, without the hash)."""
    out = np.full(sorted_keys.shape[0], -1, dtype=np.int64)
    m = sorted_keys.shape[0]
    if m == 0:
        return out
    for row in range(ids.shape[0]):
        x = ids[row]
        if x < sorted_keys[0] or x > sorted_keys[m - 1]:
            continue
        j = np.searchsorted(sorted_keys, x)
        if j < m and sorted_keys[j] == x:
            out[j] = row
    return out


@njit(cache=True)
def permute_rows(hashes: Any, order: Any) -> None:
    """Reorder the rows of hashes in place: row i becomes the old row order[i] (cycles are
    followed with a bitset of done rows, so no second copy of the array is made)."""
    n = hashes.shape[0]
    done = np.zeros((n + 7) >> 3, dtype=np.uint8)
    for i in range(n):
        if (done[i >> 3] >> (i & 7)) & 1:
            continue
        t0, t1, t2, t3 = hashes[i, 0], hashes[i, 1], hashes[i, 2], hashes[i, 3]
        j: Any = i
        while True:
            done[j >> 3] |= np.uint8(1 << (j & 7))
            k = np.int64(order[j])
            if k == i:
                hashes[j, 0], hashes[j, 1], hashes[j, 2], hashes[j, 3] = t0, t1, t2, t3
                break
            hashes[j, 0], hashes[j, 1] = hashes[k, 0], hashes[k, 1]
            hashes[j, 2], hashes[j, 3] = hashes[k, 2], hashes[k, 3]
            j = k


@njit(cache=True, parallel=True)
def pairwise_min_within(a: Any, b: Any, radius: int) -> Any:
    """For each row of a, the number of rows of b within radius (for false-positive counts)."""
    na = a.shape[0]
    nb = b.shape[0]
    out = np.zeros(na, dtype=np.int64)
    for i in prange(na):
        c = 0
        for j in range(nb):
            d = (
                _popcount64(a[i, 0] ^ b[j, 0])
                + _popcount64(a[i, 1] ^ b[j, 1])
                + _popcount64(a[i, 2] ^ b[j, 2])
                + _popcount64(a[i, 3] ^ b[j, 3])
            )
            if d <= radius:
                c += 1
        out[i] = c
    return out


@njit(cache=True)
def _sort_table(full_keys: Any, shift: int, kept: int, nbits: int, offsets: Any, perm: Any) -> None:
    """Two-level counting sort (top 8 bits first) so both scatters stay cache friendly.

    perm[i] packs (row << kept) | the top `kept` of the key's low `shift` bits, so a probe
    can check (most of) the substring without touching the row.
    """
    n = full_keys.shape[0]
    keys = full_keys >> np.uint32(shift)
    rmask = np.uint32((1 << shift) - 1)
    drop = np.uint32(shift - kept)
    hi_bits = min(8, nbits)
    lo_bits = nbits - hi_bits
    nhi = 1 << hi_bits
    hcount = np.zeros(nhi + 1, dtype=np.int64)
    for i in range(n):
        hcount[(keys[i] >> lo_bits) + 1] += 1
    for b in range(nhi):
        hcount[b + 1] += hcount[b]
    hpos = hcount[:-1].copy()
    tmp_rows = np.empty(n, dtype=np.uint32)
    tmp_keys = np.empty(n, dtype=np.uint32)
    for i in range(n):
        h = keys[i] >> lo_bits
        p = hpos[h]
        tmp_rows[p] = i
        tmp_keys[p] = keys[i]
        hpos[h] = p + 1
    for b in range(len(offsets)):
        offsets[b] = 0
    for i in range(n):
        offsets[tmp_keys[i] + 1] += 1
    for b in range(len(offsets) - 1):
        offsets[b + 1] += offsets[b]
    nlo = 1 << lo_bits
    for hb in range(nhi):
        pos = offsets[hb * nlo : (hb + 1) * nlo].copy()
        for i in range(hcount[hb], hcount[hb + 1]):
            k = tmp_keys[i] - hb * nlo
            row = tmp_rows[i]
            perm[pos[k]] = (row << np.uint32(kept)) | ((full_keys[row] & rmask) >> drop)
            pos[k] += 1


@njit(cache=True, parallel=True)
def build_tables(
    hashes: Any,
    offs: Any,
    lens: Any,
    shifts: Any,
    kept: Any,
    tables: Any,
    dir_starts: Any,
    dir_offsets: Any,
    perms: Any,
) -> None:
    """Fill the directory and permutation of the given tables (in parallel); the k-th of
    them gets the k-th block of n entries of perms."""
    n = hashes.shape[0]
    for k in prange(tables.shape[0]):
        t = tables[k]
        keys = extract_keys(hashes, offs[t], lens[t], 0)
        nb = lens[t] - shifts[t]
        d0 = dir_starts[t]
        _sort_table(
            keys, shifts[t], kept[t], nb, dir_offsets[d0 : d0 + (1 << nb) + 1],
            perms[k * n : (k + 1) * n],
        )  # fmt: skip

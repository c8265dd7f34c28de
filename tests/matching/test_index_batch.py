"""The grouped batch kernel (kernels.search_batch_sorted, behind Segment.search_batch).

Several queries a thread go through one pipeline, and their directory probes and candidate
rows are read in address order: each query's result must still be exactly the brute-force
set, the same as main's batch (parallel single staged queries), with removed rows, more hits
than the buffer, candidate buffers that fill many times (mid-bucket), groups that do not
divide the batch, an empty batch and a batch of one.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openhotline.matching import index as index_module
from openhotline.matching import kernels
from openhotline.matching.index import Layout, PDQIndex, Segment


def _near(rng: np.random.Generator, centres: np.ndarray, n: int, max_flips: int) -> np.ndarray:
    """n copies of random centres with up to max_flips random bits flipped each."""
    out = centres[rng.integers(0, len(centres), size=n)].copy()
    for i in range(n):
        for b in rng.choice(256, size=int(rng.integers(0, max_flips + 1)), replace=False):
            out[i, b // 64] ^= np.uint64(1) << np.uint64(63 - b % 64)
    return out


def _truth(seg: Segment, q: np.ndarray, radius: int) -> list[tuple[int, int]]:
    pos, dist = kernels.brute_force_bits(q, seg.hashes, seg.alive, radius)
    return sorted(zip(pos.tolist(), dist.tolist(), strict=True))


def _rows(counts: np.ndarray, pos: np.ndarray, dist: np.ndarray, i: int) -> list[tuple[int, int]]:
    k = min(int(counts[i]), pos.shape[1])
    return sorted(zip(pos[i, :k].tolist(), dist[i, :k].tolist(), strict=True))


LAYOUTS = [
    None,  # Layout.for_size
    Layout.with_tables(11, 22),  # directories of 4M slots: almost every bucket empty
    Layout.with_tables(11, 16),
    Layout.with_tables(9, 21),  # the 100M-row shape (28/29-bit substrings)
]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 3000),
    layout=st.sampled_from(LAYOUTS),
    bits=st.sampled_from([32, 18, 14]),
    dead=st.floats(0.0, 0.6),
    radius=st.sampled_from([31, 20, 8]),
    nq=st.integers(1, 40),
    group=st.sampled_from([1, 3, 7, 32, 64]),
    sort=st.booleans(),
    ncand=st.sampled_from([5, 64, 70, 1 << 19]),
    threads=st.sampled_from([1, 2, 3]),
    window=st.booleans(),
)
def test_grouped_batch_equals_brute_force_and_mains_batch(
    seed: int,
    n: int,
    layout: Layout | None,
    bits: int,
    dead: float,
    radius: int,
    nq: int,
    group: int,
    sort: bool,
    ncand: int,
    threads: int,
    window: bool,
) -> None:
    rng = np.random.default_rng(seed)
    centres = rng.integers(0, 2**64 - 1, size=(6, 4), dtype=np.uint64, endpoint=True)
    h = _near(rng, centres, n, 40)
    saved = index_module.ENTRY_BITS
    index_module.ENTRY_BITS = bits  # fewer kept residual bits: the 100M-row entries
    try:
        seg = Segment.build(h, np.arange(n, dtype=np.int64), layout or Layout.for_size(n))
    finally:
        index_module.ENTRY_BITS = saved
    seg.kill(np.flatnonzero(rng.random(n) < dead))
    queries = np.concatenate(
        [_near(rng, np.asarray(seg.hashes), nq - nq // 3, 40), _near(rng, centres, nq // 3, 20)]
    )  # fmt: skip
    args = seg._args(radius)
    for cap in (64, 3):  # 3: more hits than the buffer, the count still exact
        counts, pos, dist = kernels.search_batch_sorted(
            queries, *args, cap, group, sort, ncand, threads, window
        )
        mcounts, mpos, mdist = kernels.search_batch(queries, *args, cap)
        for i, q in enumerate(queries):
            want = _truth(seg, q, radius)
            assert counts[i] == mcounts[i] == len(want)
            if len(want) <= cap:
                assert _rows(counts, pos, dist, i) == _rows(mcounts, mpos, mdist, i) == want


def test_many_hits_and_full_candidate_buffers_in_one_group() -> None:
    # Thousands of copies of two hashes: every probe of their buckets meets thousands of
    # rows, so a small candidate buffer is verified many times inside one bucket, and the
    # hits overflow the per-query buffer (the count stays exact; the segment redoes the
    # query alone).
    rng = np.random.default_rng(3)
    base = rng.integers(0, 2**64 - 1, size=(2, 4), dtype=np.uint64, endpoint=True)
    h = np.concatenate([np.repeat(base, 1500, axis=0), _near(rng, base, 500, 60)])
    seg = Segment.build(h, np.arange(len(h), dtype=np.int64))
    seg.kill(np.arange(0, len(h), 7))
    near = base[1].copy()
    near[0] ^= np.uint64(0xFF)
    miss = rng.integers(0, 2**64 - 1, size=(3, 4), dtype=np.uint64, endpoint=True)
    queries = np.concatenate([base[:1], miss, near[None, :], base])
    wants = [_truth(seg, q, 31) for q in queries]
    assert max(len(w) for w in wants) > 1000
    for ncand, group, window in (
        (100, 8, True),
        (kernels.BATCH_CANDIDATES, 8, True),
        (7, 2, False),
    ):
        counts, pos, dist = kernels.search_batch_sorted(
            queries, *seg._args(31), len(h), group, True, ncand, 2, window
        )
        for i, want in enumerate(wants):
            assert counts[i] == len(want)
            assert _rows(counts, pos, dist, i) == want
    # Through the segment: the buffer of 64 overflows, those queries are redone alone.
    for q, (ids, d) in zip(queries, seg.search_batch(queries, 31), strict=True):
        rows = _truth(seg, q, 31)  # rows are stored in the primary table's order
        want_ids = seg.id_values(np.asarray([r for r, _ in rows], np.int64)).tolist()
        want = sorted(zip(want_ids, [x for _, x in rows], strict=True))
        assert sorted(zip(ids.tolist(), d.tolist(), strict=True)) == want


def test_empty_batch_and_batch_of_one() -> None:
    rng = np.random.default_rng(5)
    h = rng.integers(0, 2**64 - 1, size=(5000, 4), dtype=np.uint64, endpoint=True)
    seg = Segment.build(h, np.arange(5000, dtype=np.int64))
    empty = np.zeros((0, 4), dtype=np.uint64)
    counts, pos, dist = kernels.search_many(empty, *seg._args(31), 64, window=True)
    assert counts.shape == (0,) and pos.shape == (0, 64) and dist.shape == (0, 64)
    assert seg.search_batch(empty, 31) == []
    q = _near(rng, np.asarray(seg.hashes[:1]), 1, 10)
    counts, pos, dist = kernels.search_many(q, *seg._args(31), 64, window=False)
    assert _rows(counts, pos, dist, 0) == _truth(seg, q[0], 31) != []
    [(ids, d)] = seg.search_batch(q, 31)
    assert sorted(zip(ids.tolist(), d.tolist(), strict=True)) == sorted(
        zip(*seg.search(q[0], 31), strict=True)
    )


def test_index_batch_with_removals_equals_single_searches() -> None:
    # The public path (PDQIndex.search_batch -> Segment.search_batch -> search_many) with
    # rows removed by (id, hash), against one search at a time and a brute-force scan.
    rng = np.random.default_rng(7)
    n = 20_000
    h = rng.integers(0, 2**64 - 1, size=(n, 4), dtype=np.uint64, endpoint=True)
    ids = np.arange(10, 10 + n, dtype=np.int64)
    index = PDQIndex.build(h.copy(), ids)
    gone = rng.choice(n, 2000, replace=False)
    index.remove(ids[gone], h[gone])
    queries = np.concatenate([_near(rng, h, 90, 12), h[gone[:10]]])
    alive = np.ones(n, dtype=np.bool_)
    alive[gone] = False
    batch = index.search_batch(queries, 31)
    assert len(batch) == len(queries)
    for q, got in zip(queries, batch, strict=True):
        pos, dist = kernels.brute_force(q, h, alive, 31)
        want = sorted(
            zip(ids[pos].tolist(), dist.tolist(), strict=True), key=lambda x: (x[1], x[0])
        )
        assert got == want == index.search(q, 31)


def test_segment_batch_on_big_buckets_uses_windows_and_stays_exact() -> None:
    # 16-bit substrings on 8-bit directories: about 16 rows a bucket, so the segment scans
    # its buckets as fixed windows (as at 100M rows); removed rows and near-duplicates.
    rng = np.random.default_rng(11)
    centres = rng.integers(0, 2**64 - 1, size=(40, 4), dtype=np.uint64, endpoint=True)
    h = np.concatenate([_near(rng, centres, 1500, 30), rng.integers(0, 2**64 - 1, size=(2500, 4),
                        dtype=np.uint64, endpoint=True)])  # fmt: skip
    seg = Segment.build(h, np.arange(len(h), dtype=np.int64), Layout.with_tables(16, 8))
    assert len(seg) >= kernels.WINDOW_FROM_BUCKET << 8  # the windowed scan is used
    seg.kill(np.flatnonzero(rng.random(len(h)) < 0.2))
    queries = np.concatenate([_near(rng, centres, 30, 12), _near(rng, h, 20, 8)])
    for radius in (31, 12):
        for q, (ids, d) in zip(queries, seg.search_batch(queries, radius), strict=True):
            rows = _truth(seg, q, radius)
            want_ids = seg.id_values(np.asarray([r for r, _ in rows], np.int64)).tolist()
            assert sorted(zip(ids.tolist(), d.tolist(), strict=True)) == sorted(
                zip(want_ids, [x for _, x in rows], strict=True)
            )

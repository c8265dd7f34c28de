"""The staged (prefetching, branch-free) search kernel against the plain one and brute force.

Searches run through kernels._search_staged; kernels._search_one is the plain kernel it
replaced. Both must return exactly the brute-force rows on segments with empty buckets
(directories much bigger than the rows), removed rows, entries keeping only part of their
residual bits, blocks of more than VERIFY_BLOCK candidates and more hits than the buffer.
"""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numba import njit

from openhotline.matching import index as index_module
from openhotline.matching import kernels
from openhotline.matching.index import Layout, PDQIndex, Segment, advise_huge_pages


def _near(rng: np.random.Generator, centres: np.ndarray, n: int, max_flips: int) -> np.ndarray:
    """n copies of random centres with up to max_flips random bits flipped each."""
    out = centres[rng.integers(0, len(centres), size=n)].copy()
    for i in range(n):
        for b in rng.choice(256, size=int(rng.integers(0, max_flips + 1)), replace=False):
            out[i, b // 64] ^= np.uint64(1) << np.uint64(63 - b % 64)
    return out


def _run(fn: object, seg: Segment, q: np.ndarray, radius: int, cap: int) -> tuple[list, int]:
    """(sorted (row, distance) pairs, count) of one kernel on one query."""
    pos = np.empty(cap, dtype=np.int64)
    dist = np.empty(cap, dtype=np.int32)
    n = fn(q, *seg._args(radius), pos, dist)  # type: ignore[operator]
    k = min(n, cap)
    return sorted(zip(pos[:k].tolist(), dist[:k].tolist(), strict=True)), n


def _truth(seg: Segment, q: np.ndarray, radius: int) -> list:
    pos, dist = kernels.brute_force_bits(q, seg.hashes, seg.alive, radius)
    return sorted(zip(pos.tolist(), dist.tolist(), strict=True))


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
)
def test_staged_kernel_equals_plain_kernel_and_brute_force(
    seed: int, n: int, layout: Layout | None, bits: int, dead: float, radius: int
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
        [_near(rng, np.asarray(seg.hashes), 8, 40), _near(rng, centres, 4, 20)]
    )  # fmt: skip
    for q in queries:
        want = _truth(seg, q, radius)
        for cap in (64, 3):  # 3: more hits than the buffer, the count still exact
            staged, ns = _run(kernels._search_staged, seg, q, radius, cap)
            plain, np_ = _run(kernels._search_one, seg, q, radius, cap)
            assert ns == np_ == len(want)
            if len(want) <= cap:
                assert staged == plain == want
    # The public paths (one query, a batch) go through the staged kernel.
    got = seg.search_batch(queries, radius)
    for q, (ids, dist) in zip(queries, got, strict=True):
        rows = _truth(seg, q, radius)  # rows are stored in the primary table's order
        want = sorted(zip(seg.id_values(np.asarray([r for r, _ in rows], np.int64)).tolist(),
                          [d for _, d in rows], strict=True))  # fmt: skip
        assert sorted(zip(ids.tolist(), dist.tolist(), strict=True)) == want
        one_ids, one_dist = seg.search(q, radius)
        assert sorted(zip(one_ids.tolist(), one_dist.tolist(), strict=True)) == want


def test_more_candidates_than_a_verify_block_are_all_checked() -> None:
    # 3 * VERIFY_BLOCK copies of two hashes: every probe of their buckets meets thousands
    # of rows, so the candidate block fills and is verified several times in one bucket.
    rng = np.random.default_rng(3)
    base = rng.integers(0, 2**64 - 1, size=(2, 4), dtype=np.uint64, endpoint=True)
    n = 3 * kernels.VERIFY_BLOCK
    h = np.concatenate([np.repeat(base, n // 2, axis=0), _near(rng, base, 500, 60)])
    seg = Segment.build(h, np.arange(len(h), dtype=np.int64))
    seg.kill(np.arange(0, len(h), 7))
    near = base[1].copy()
    near[0] ^= np.uint64(0xFF)  # 8 bits from the second hash
    for q in (base[0], near):
        want = _truth(seg, q, 31)
        assert len(want) > kernels.VERIFY_BLOCK
        staged, count = _run(kernels._search_staged, seg, q, 31, len(h))
        assert count == len(want)
        assert staged == want
        assert staged == _run(kernels._search_one, seg, q, 31, len(h))[0]


def test_prefetch_compiles_to_a_prefetch_instruction_and_leaves_data_alone() -> None:
    # The staged kernel's memory parallelism comes from this intrinsic: it must emit a
    # real prefetch instruction (not be optimised away) and must not change what is read.
    @njit
    def touch(a: np.ndarray, rows: np.ndarray) -> int:
        s = 0
        for i in range(rows.shape[0]):
            kernels.prefetch(a, rows[i])
            kernels.prefetch(a[rows[i]], 3)
            s += a[rows[i], 1]
        return s

    a = np.arange(400, dtype=np.int64).reshape(100, 4)
    rows = np.asarray([3, 99, 0], dtype=np.int64)
    assert touch(a, rows) == a[rows, 1].sum()
    asm = "".join(touch.inspect_asm().values())
    assert "prefetcht0" in asm


def _hugepage_advised(path: Path) -> bool | None:
    """Whether this process maps path with MADV_HUGEPAGE ("hg" in VmFlags); None if unmapped."""
    flags = None
    current = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if line and not line[0].isupper() and "-" in line.split()[0]:
            current = line.endswith(str(path))
        elif current and line.startswith("VmFlags:"):
            flags = bool(flags) or "hg" in line.split()[1:]
    return flags


@pytest.mark.skipif(not hasattr(mmap, "MADV_HUGEPAGE"), reason="needs MADV_HUGEPAGE (Linux)")
def test_a_loaded_index_asks_for_huge_pages_on_its_mapped_tables(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    h = rng.integers(0, 2**63, size=(5000, 4), dtype=np.uint64)
    PDQIndex.build(h, np.arange(5000, dtype=np.int64)).save(tmp_path / "idx")
    loaded, _ = PDQIndex.load(tmp_path / "idx")
    seg = loaded.segments[0]
    assert isinstance(seg.perms, np.memmap)
    for name in ("hashes", "perms", "dir_offsets", "ids"):
        assert _hugepage_advised((tmp_path / "idx" / "seg0000" / f"{name}.npy").resolve())
    # An in-memory array is not mapped from a file: nothing to advise, and no error.
    assert advise_huge_pages(np.zeros(10)) is False
    q = np.asarray(seg.hashes[3]).copy()
    assert [i for i, _d in loaded.search(q, 31)] == [i for i, _d in PDQIndex.build(
        h, np.arange(5000, dtype=np.int64)).search(q, 31)]  # fmt: skip

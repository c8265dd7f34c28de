"""Property tests: the index against brute force over random adds, removes and queries.

Rows are stored in the primary table's order (format 4), found by hash or by a scan of the
id column; entries may keep only part of their residual bits (ENTRY_BITS lowered here so
small segments take the path 100M rows take). Every answer must equal a linear scan.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openhotline.matching import index as index_module
from openhotline.matching import kernels
from openhotline.matching.index import Layout, PDQIndex, kept_bits


@contextmanager
def _entry_bits(bits: int) -> Iterator[None]:
    """Entries of `bits` bits: fewer residual bits kept than the layout's shifts."""
    saved = index_module.ENTRY_BITS
    index_module.ENTRY_BITS = bits
    try:
        yield
    finally:
        index_module.ENTRY_BITS = saved


def _hashes(rng: np.random.Generator, n: int, centres: np.ndarray) -> np.ndarray:
    """Near-duplicates of a few centres (many hits within radius 31), some exact copies."""
    out = centres[rng.integers(0, len(centres), size=n)].copy()
    for i in range(n):
        for b in rng.choice(256, size=int(rng.integers(0, 36)), replace=False):
            out[i, b // 64] ^= np.uint64(1) << np.uint64(63 - b % 64)
    dup = rng.random(n) < 0.05
    if n > 1 and dup.any():
        out[dup] = out[rng.integers(0, n, size=int(dup.sum()))]
    return out


def _expected(model: dict[int, np.ndarray], q: np.ndarray, radius: int) -> list:
    if not model:
        return []
    ids = np.fromiter(model, dtype=np.int64, count=len(model))
    h = np.stack([model[i] for i in model]).astype(np.uint64)
    pos, dist = kernels.brute_force(q, h, np.ones(len(ids), np.bool_), radius)
    return sorted(zip(ids[pos].tolist(), dist.tolist(), strict=True), key=lambda x: (x[1], x[0]))


def _check(index: PDQIndex, model: dict[int, np.ndarray], rng: np.random.Generator, qs: list):
    queries = np.stack(qs)
    batch = index.search_batch(queries, 31)
    for q, got in zip(queries, batch, strict=True):
        want = _expected(model, q, 31)
        assert index.search(q, 31) == want
        assert got == want
    assert len(index) == len(model)
    assert index.live_ids().tolist() == sorted(model)
    pairs = list(index.live_entries(chunk=97))
    ids = np.concatenate([p[0] for p in pairs]) if pairs else np.zeros(0, np.int64)
    assert ids.tolist() == sorted(model)
    for chunk_ids, words in pairs:
        for i, w in zip(chunk_ids.tolist(), words, strict=True):
            assert np.array_equal(w, model[i])


LAYOUTS = [None, Layout.with_tables(11, 16), Layout.with_tables(9, 21)]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)  # fmt: skip
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 4000),
    layout=st.sampled_from(LAYOUTS),
    bits=st.sampled_from([32, 18, 14]),
    ops=st.lists(
        st.tuples(
            st.sampled_from(["add", "remove", "remove_by_id", "compact", "reload", "lookup"]),
            st.integers(1, 300),
        ),
        max_size=6,
    ),
)
def test_index_equals_brute_force_through_adds_removes_compaction_and_reload(
    seed: int, n: int, layout: Layout | None, bits: int, ops: list[tuple[str, int]]
) -> None:
    rng = np.random.default_rng(seed)
    centres = rng.integers(0, 2**64 - 1, size=(8, 4), dtype=np.uint64, endpoint=True)
    if layout is not None and n < 2:
        n = 2
    with _entry_bits(bits), TemporaryDirectory() as tmp:
        h = _hashes(rng, n, centres)
        ids = rng.choice(10**9, size=n, replace=False).astype(np.int64) + 10**10
        model = {int(i): w for i, w in zip(ids, h, strict=True)}
        index = PDQIndex.build(h.copy(), ids, layout, own=bool(seed & 1))
        seg = index.segments[0] if index.segments else None
        if seg is not None and seg.layout is not None and bits < 32:
            assert kept_bits(seg.layout, len(seg)).min() < max(seg.layout.shifts) or n < 4
        next_id = 1
        for op, k in ops:
            live = list(model)
            if op == "add":
                new = _hashes(rng, k, centres)
                new_ids = list(range(next_id, next_id + k))
                next_id += k
                index.add(new, new_ids)
                model.update(zip(new_ids, new, strict=True))
            elif op in ("remove", "remove_by_id") and live:
                pick = [live[int(j)] for j in rng.integers(0, len(live), size=min(k, len(live)))]
                absent = [-5, 10**12 + 7]
                gone = sorted(set(pick))
                if op == "remove":  # with their hashes (as the engine does)
                    words = np.stack([model[i] for i in gone])
                    assert index.remove(gone, words) == len(gone)
                    # A right id with a wrong hash removes nothing.
                    if len(model) > len(gone):
                        other = next(i for i in model if i not in gone)
                        assert index.remove([other], ~model[other][None, :]) == 0
                else:
                    assert index.remove(gone + absent) == len(gone)
                for i in gone:
                    del model[i]
            elif op == "compact":
                index.compact(full=bool(k & 1))
            elif op == "reload":
                index.save(Path(tmp) / "idx", stamp="p")
                index, stamp = PDQIndex.load(Path(tmp) / "idx")
                assert stamp == "p"
            elif op == "lookup" and live:
                want = [live[int(j)] for j in rng.integers(0, len(live), size=min(k, 20))]
                probe = np.asarray([*want, -1], dtype=np.int64)
                words = np.stack([model[i] for i in want] + [centres[0]])
                for expect in (None, words):
                    found, held = index.lookup(probe, expect)
                    assert found.tolist() == [True] * len(want) + [False]
                    assert np.array_equal(held[:-1], words[:-1])
        pool = list(model.values()) or [centres[0]]
        qs = []
        for _ in range(12):
            base = pool[int(rng.integers(0, len(pool)))].copy()
            for b in rng.choice(256, size=int(rng.integers(0, 40)), replace=False):
                base[b // 64] ^= np.uint64(1) << np.uint64(63 - b % 64)
            qs.append(base)
        _check(index, model, rng, qs)

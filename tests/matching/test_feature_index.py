"""The LSH descriptor index against brute force on random descriptors (no images needed)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openhotline.matching import feature_index
from openhotline.matching.feature_index import DescriptorIndex
from openhotline.matching.features import FeatureIndex, Features

Item = tuple[npt.NDArray[np.uint16], npt.NDArray[np.uint8]]


def _popcount(x: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    return np.unpackbits(x, axis=-1).sum(axis=-1).astype(np.int64)


def _flip(desc: npt.NDArray[np.uint8], bits: int, rng: np.random.Generator) -> Any:
    out = desc.copy()
    for row in out:
        for b in rng.choice(256, bits, replace=False):
            row[b // 8] ^= np.uint8(1 << (b % 8))
    return out


def _items(rng: np.random.Generator, n_items: int, per_item: int) -> dict[int, Item]:
    return {
        10 * i + 3: (
            rng.integers(0, 640, (per_item, 2)).astype(np.uint16),
            rng.integers(0, 256, (per_item, 32), dtype=np.uint8),
        )
        for i in range(n_items)
    }


def _brute(items: dict[int, Item], q: npt.NDArray[np.uint8], radius: int) -> dict[Any, int]:
    """(item, query row) -> the smallest distance to the item's descriptors, within radius."""
    out = {}
    for item, (_pts, desc) in items.items():
        d = _popcount(q[:, None, :] ^ desc[None, :, :])  # (q, n)
        best = d.min(axis=1)
        for row in np.flatnonzero(best <= radius).tolist():
            out[(item, row)] = int(best[row])
    return out


def _found(index: DescriptorIndex, q: npt.NDArray[np.uint8], radius: int) -> dict[Any, int]:
    m = index.matches(q, radius)
    got = {(int(i), int(r)): int(d) for i, r, d in zip(m.items, m.q_rows, m.distances, strict=True)}
    assert len(got) == len(m.items)  # one match per (item, query row)
    return got


def _queries(items: dict[int, Item], rng: np.random.Generator, flips: int) -> Any:
    """Copies of some stored descriptors with `flips` bits changed, and random ones."""
    stored = np.concatenate([d for _, d in items.values()])
    near = _flip(stored[rng.choice(len(stored), min(40, len(stored)), replace=False)], flips, rng)
    return np.concatenate([near, rng.integers(0, 256, (10, 32), dtype=np.uint8)])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tables=st.integers(1, 10),
    probe=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
    n_items=st.integers(1, 12),
    per_item=st.integers(1, 40),
)
def test_exact_below_the_pigeonhole_radius(
    tables: int, probe: bool, seed: int, n_items: int, per_item: int
) -> None:
    """Below 2 * tables (with probes; tables without) every pair within radius is found."""
    rng = np.random.default_rng(seed)
    items = _items(rng, n_items, per_item)
    radius = 2 * tables - 1 if probe else tables - 1
    index = DescriptorIndex(tables, probe)
    for item, (pts, desc) in items.items():
        index.add(item, pts, desc)
    q = _queries(items, rng, int(rng.integers(0, radius + 1)))
    assert _found(index, q, radius) == _brute(items, q, radius)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables=st.integers(1, 10), seed=st.integers(0, 2**32 - 1), radius=st.integers(20, 60))
def test_beyond_it_a_subset_with_true_distances(tables: int, seed: int, radius: int) -> None:
    """At bench radii some pairs may be missed, but nothing beyond the radius comes back and
    every distance is a real one (the closest of the item's found descriptors)."""
    rng = np.random.default_rng(seed)
    items = _items(rng, 6, 30)
    index = DescriptorIndex(tables)
    for item, (pts, desc) in items.items():
        index.add(item, pts, desc)
    q = _queries(items, rng, radius // 2)
    got, truth = _found(index, q, radius), _brute(items, q, radius)
    assert set(got) <= set(truth)
    for key, d in got.items():
        item, row = key
        all_d = _popcount(q[row] ^ items[item][1])
        assert d in all_d.tolist() and truth[key] <= d <= radius


def test_segments_removal_and_replacement_match_brute_force() -> None:
    rng = np.random.default_rng(5)
    items = _items(rng, 40, 25)
    index = DescriptorIndex(4)
    live: dict[int, Item] = {}
    q = _queries(items, rng, 3)
    keys = list(items)
    # Batches of different sizes, searched in between: several segments, then merges.
    for lo, hi in ((0, 1), (1, 3), (3, 4), (4, 20), (20, 21), (21, 40)):
        for k in keys[lo:hi]:
            index.add(k, *items[k])
            live[k] = items[k]
        assert _found(index, q, 7) == _brute(live, q, 7)
    for k in keys[::3]:
        index.remove(k)
        live.pop(k)
    index.remove(123456)  # not held: nothing happens
    new = _items(np.random.default_rng(9), 1, 25)[3]
    index.add(keys[1], *new)  # replaces the item's old descriptors
    live[keys[1]] = new
    q2 = np.concatenate([q, _flip(new[1][:5], 2, rng)])
    assert _found(index, q2, 7) == _brute(live, q2, 7)
    assert index.items() == len(live)
    assert len(index) == sum(len(d) for _, d in live.values())
    pts = new[0].astype(np.float32)
    assert index.extent(keys[1]).tolist() == [*pts.min(axis=0), *pts.max(axis=0)]


def test_add_many_is_one_segment_like_single_adds() -> None:
    rng = np.random.default_rng(11)
    items = _items(rng, 30, 20)
    one, many = DescriptorIndex(), DescriptorIndex()
    for k, (pts, desc) in items.items():
        one.add(k, pts, desc)
    many.add_many(
        np.asarray(list(items), np.int64),
        np.asarray([len(d) for _, d in items.values()], np.int64),
        np.concatenate([p for p, _ in items.values()]),
        np.concatenate([d for _, d in items.values()]),
    )
    q = _queries(items, rng, 6)
    assert _found(one, q, 28) == _found(many, q, 28)
    assert one.nbytes() == many.nbytes()
    # Per descriptor: 32 + 4 bytes, 6 per table; per table a 2**16 + 1 directory (a small
    # segment: feature_index.dir_bits) and, once searched, 65,536 skip flags.
    n = len(many)
    assert many.nbytes() - 6 * 65537 * 4 - 6 * 65536 - n * (36 + 6 * 6) < 40 * 30


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="tables"):
        DescriptorIndex(0)
    with pytest.raises(ValueError, match="tables"):
        DescriptorIndex(11)
    index = DescriptorIndex()
    with pytest.raises(ValueError, match="descriptors"):
        index.add(1, np.zeros((3, 2), np.uint16), np.zeros((3, 16), np.uint8))
    with pytest.raises(ValueError, match="disagree"):
        index.add_many(
            np.arange(2),
            np.asarray([2, 2]),
            np.zeros((3, 2), np.uint16),
            np.zeros((3, 32), np.uint8),
        )
    index.add(1, np.zeros((1, 2), np.uint16), np.zeros((1, 32), np.uint8))
    with pytest.raises(ValueError, match="new, distinct"):
        index.add_many(
            np.asarray([1]),
            np.asarray([1]),
            np.zeros((1, 2), np.uint16),
            np.zeros((1, 32), np.uint8),
        )


def test_a_bucket_of_thousands_of_like_descriptors_is_not_probed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Flat patches give thousands of near-identical descriptors: they cannot tell items apart,
    and probing them would cost a full scan of the bucket per query keypoint."""
    monkeypatch.setattr(feature_index, "MIN_MAX_BUCKET", 100)
    rng = np.random.default_rng(3)
    flat = np.zeros((1, 32), np.uint8)
    index = DescriptorIndex(2)
    for item in range(300):  # 300 rows in bucket 0 of both tables: over 100
        index.add(item, np.zeros((1, 2), np.uint16), flat)
    rare = rng.integers(1, 256, (1, 32), dtype=np.uint8)
    index.add(999, np.zeros((1, 2), np.uint16), rare)
    assert _found(index, flat, 3) == {}
    assert _found(index, rare, 3) == {(999, 0): 0}


def test_only_the_best_matched_items_are_verified() -> None:
    """Items are verified in order of matched keypoints, at most max_verify of them."""
    rng = np.random.default_rng(8)
    query = Features(
        rng.integers(0, 640, (60, 2)).astype(np.uint16),
        rng.integers(0, 256, (60, 32), dtype=np.uint8),
    )
    index = FeatureIndex(max_verify=3)
    for item in range(6):  # item k shares 10 + 5k of the query's descriptors
        share = 10 + 5 * item
        desc = np.concatenate([query.descriptors[:share], rng.integers(0, 256, (20, 32), np.uint8)])
        index.add(item, Features(rng.integers(0, 640, (len(desc), 2)).astype(np.uint16), desc))
    seen: list[int] = []
    index.search(query, on_verify=lambda item, _n: seen.append(item))
    assert seen == [5, 4, 3]
    assert [i for i, _q, _p in index.candidates(query, need=21)] == [5, 4, 3]
    index.max_verify = 100
    assert [i for i, _q, _p in index.candidates(query, need=20)] == [5, 4, 3, 2]


def _cluster(rng: np.random.Generator, bases: int, copies: int) -> Any:
    """Near-copy clusters (a bank of ~copies copies per photo, bench/RESULTS.md 3d): base
    descriptors, each with `copies` copies with 0-40 random bits flipped; and the bases."""
    base = rng.integers(0, 256, (bases, 32), dtype=np.uint8)
    rows = np.repeat(base, copies, axis=0)
    flips = rng.random((len(rows), 256)) < rng.integers(0, 41, (len(rows), 1)) / 256
    return rows ^ np.packbits(flips, axis=1), base


def _index_of_rows(desc: npt.NDArray[np.uint8], tables: int, cap: int) -> DescriptorIndex:
    index = DescriptorIndex(tables, cap=cap)
    index.add_many(
        np.arange(len(desc), dtype=np.int64),
        np.ones(len(desc), np.int64),
        np.zeros((len(desc), 2), np.uint16),
        desc,
    )
    return index


def test_the_cap_bounds_the_rows_read_and_keeps_the_nearest() -> None:
    """2,000 near-copies (0-12 bits flipped) share each query's keys, so every row read is a
    match: with cap 32 no (query row, table) reports more than 32, against hundreds without;
    the rows kept are nearer ones (mean distance 0.3 bits or more under all matches': the
    32 bits that order them are a weak proxy of 256 at these distances)."""
    rng = np.random.default_rng(21)
    base = rng.integers(0, 256, (8, 32), dtype=np.uint8)
    rows = np.repeat(base, 2000, axis=0)
    flips = rng.random((len(rows), 256)) < rng.integers(0, 13, (len(rows), 1)) / 256
    desc = rows ^ np.packbits(flips, axis=1)
    q = _flip(base, 2, rng)
    capped, full = _index_of_rows(desc, 6, 32), _index_of_rows(desc, 6, 0)
    per_row = []
    for index, cap in ((capped, 32), (full, 0)):
        s = index._segments[0]
        found = feature_index.kernels.search(
            q, q.view(np.uint64).reshape(-1, 4), s.desc.view(np.uint64).reshape(-1, 4),
            s.offsets, s.lows, s.rows, s.skip(1 << 30), 6, True, 28, cap,
        )  # fmt: skip
        per_row.append(np.bincount(found[0]))
    assert per_row[0].max() <= 6 * 32 < 500 < per_row[1].min()
    got, truth = _found(capped, q, 28), _found(full, q, 28)
    assert set(got) <= set(truth)
    assert np.mean(list(got.values())) < np.mean(list(truth.values())) - 0.3


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tables=st.integers(1, 10),
    cap=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
    copies=st.integers(50, 600),
)
def test_capped_matches_are_true_ones_and_uncapped_when_few(
    tables: int, cap: int, seed: int, copies: int
) -> None:
    """With the cap, nothing beyond the radius comes back and each distance is the true
    closest one; a cap at or over the rows held changes nothing."""
    rng = np.random.default_rng(seed)
    desc, base = _cluster(rng, 3, copies)
    q = np.concatenate([_flip(base, int(rng.integers(0, 4)), rng), desc[:5]])
    items = {i: (np.zeros((1, 2), np.uint16), desc[i : i + 1]) for i in range(len(desc))}
    truth = _brute(items, q, 28)
    got = _found(_index_of_rows(desc, tables, cap), q, 28)
    assert set(got) <= set(truth)
    assert all(got[k] == truth[k] for k in got)
    assert _found(_index_of_rows(desc, tables, len(desc)), q, 28) == _found(
        _index_of_rows(desc, tables, 0), q, 28
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tables=st.integers(1, 10),
    cap=st.sampled_from([0, 1, 8, 32]),
    probe=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_parallel_kernel_equals_the_serial_one(
    tables: int, cap: int, probe: bool, seed: int
) -> None:
    """Same rows in the same order, also for query rows with more matches than the
    parallel pass keeps per row (PARALLEL_ROOM: they are redone into their place)."""
    rng = np.random.default_rng(seed)
    desc, base = _cluster(rng, 2, 400)
    desc = np.concatenate([desc, rng.integers(0, 256, (300, 32), dtype=np.uint8)])
    q = np.concatenate([_flip(base, 3, rng), desc[rng.choice(len(desc), 20)]])
    index = _index_of_rows(desc, tables, cap)
    index.probe = probe
    s = index._segments[0]
    args = (
        q, q.view(np.uint64).reshape(-1, 4), s.desc.view(np.uint64).reshape(-1, 4),
        s.offsets, s.lows, s.rows, s.skip(1 << 30), tables, probe, 28, cap,
    )  # fmt: skip
    serial = feature_index.kernels.search(*args)
    parallel = feature_index.kernels.search_parallel(*args)
    for a, b in zip(serial, parallel, strict=True):
        assert a.tolist() == b.tolist()
    if cap == 0 and probe:  # the case with many matches a row: the redo path ran
        assert np.bincount(serial[0]).max() > feature_index.kernels.PARALLEL_ROOM
    index.parallel = False
    m_serial = index.matches(q, 28)
    index.parallel = True
    m_parallel = index.matches(q, 28)
    assert m_serial.items.tolist() == m_parallel.items.tolist()
    assert m_serial.q_rows.tolist() == m_parallel.q_rows.tolist()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    bits=st.integers(17, 24),
    cap=st.sampled_from([0, 1, 8, 32]),
    probe=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_finer_directory_reads_the_same_rows_in_the_same_order(
    bits: int, cap: int, probe: bool, seed: int
) -> None:
    """Big segments get a directory on more key bits (feature_index.dir_bits); the probes,
    the cap's choice, the skipped 16-bit buckets and the order of what is found stay as with
    16 bits (the kernel's stages only change when each read is made)."""
    rng = np.random.default_rng(seed)
    desc, base = _cluster(rng, 2, 300)
    flat = np.zeros((150, 32), np.uint8)  # one 16-bit bucket over max_bucket in every table
    desc = np.concatenate([desc, rng.integers(0, 256, (400, 32), dtype=np.uint8), flat])
    q = np.concatenate([_flip(base, 3, rng), desc[rng.choice(len(desc), 20)], flat[:2]])
    found = []
    for b in (16, bits):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(feature_index, "dir_bits", lambda n, b=b: b)
            index = _index_of_rows(desc, 6, cap)
        index.probe = probe
        s = index._segments[0]
        assert s.offsets.shape == (6, (1 << b) + 1)
        args = (
            q, q.view(np.uint64).reshape(-1, 4), s.desc.view(np.uint64).reshape(-1, 4),
            s.offsets, s.lows, s.rows, s.skip(100), 6, probe, 28, cap,
        )  # fmt: skip
        found.append(feature_index.kernels.search(*args))
    for coarse, fine in zip(*found, strict=True):
        assert coarse.tolist() == fine.tolist()
    assert len(found[0][0]) > 0


def test_directory_bits_grow_with_the_segment() -> None:
    """About DIR_ROWS rows a slot, within 16 and 24 bits."""
    assert feature_index.dir_bits(0) == feature_index.dir_bits(1000) == 16
    assert feature_index.dir_bits(15_000_000) == 20
    assert feature_index.dir_bits(150_000_000) == 23
    assert feature_index.dir_bits(10**10) == 24

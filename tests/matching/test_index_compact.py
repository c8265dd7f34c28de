"""The leaner index of issue 18: 32-bit ids, larger segments, old snapshots still load."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from openhotline.db import transaction
from openhotline.matching import kernels, service
from openhotline.matching.engine import MatchEngine
from openhotline.matching.formats import parse_lines
from openhotline.matching.index import (
    FORMAT_VERSION,
    IndexDamagedError,
    Layout,
    PDQIndex,
    check_entry_bits,
    compact_ids,
    kept_bits,
    row_bits,
)


def _random(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2**64 - 1, size=(n, 4), dtype=np.uint64, endpoint=True)


def _flip(q: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    q = q.copy()
    for b in rng.choice(256, size=k, replace=False):
        q[b // 64] ^= np.uint64(1) << np.uint64(63 - b % 64)
    return q


def _brute(h: np.ndarray, ids: np.ndarray, alive: np.ndarray, q: np.ndarray, r: int) -> list:
    pos, dist = kernels.brute_force(q, h, alive, r)
    return sorted(zip(ids[pos].tolist(), dist.tolist(), strict=True), key=lambda x: (x[1], x[0]))


@pytest.mark.parametrize(
    "ids",
    [
        np.arange(6000, dtype=np.int64) * 7 + 10**12,  # far from 0: uint32 offsets from a base
        np.arange(6000, dtype=np.int64) * (1 << 22) - (1 << 40),  # span > 2**32: int64 ids
        np.random.default_rng(3).permutation(6000).astype(np.int64) * 3 + 1,  # unsorted input
    ],
)
def test_ids_of_any_range_search_remove_and_lookup_like_brute_force(ids: np.ndarray) -> None:
    h = _random(len(ids), 5)
    index = PDQIndex.build(h, ids)
    seg = index.segments[0]
    span = int(ids.max()) - int(ids.min())
    assert seg.ids.dtype == (np.uint32 if span < 1 << 32 else np.int64)
    alive = np.ones(len(ids), dtype=bool)
    gone = ids[[5, 77, 4000]]
    assert index.remove(np.concatenate([gone, [int(ids.min()) - 1, int(ids.max()) + (1 << 33)]]))
    alive[[5, 77, 4000]] = False
    rng = np.random.default_rng(9)
    for i in (5, 6, 77, 78, 4000, 4001, 5999):
        q = _flip(h[i], 9, rng)
        assert index.search(q, 31) == _brute(h, ids, alive, q, 31)
    queries = np.stack([_flip(h[i], 12, rng) for i in range(0, 6000, 150)])
    for q, got in zip(queries, index.search_batch(queries, 31), strict=True):
        assert got == _brute(h, ids, alive, q, 31)
    found, words = index.lookup(np.asarray([ids[6], ids[5], int(ids.min()) - 1]))
    assert found.tolist() == [True, False, False]
    assert words[0].tolist() == h[6].tolist()
    assert index.live_ids().tolist() == sorted(np.delete(ids, [5, 77, 4000]).tolist())


def test_ids_are_stored_as_32_bit_offsets() -> None:
    ids = np.arange(10, dtype=np.int64) + 5_000_000_000
    stored, base = compact_ids(ids)
    assert stored.dtype == np.uint32 and base == 5_000_000_000
    assert stored.tolist() == list(range(10))
    wide = np.asarray([0, 1 << 33], dtype=np.int64)
    stored, base = compact_ids(wide)
    assert stored.dtype == np.int64 and base == 0


def test_build_keeps_the_callers_hashes_when_handed_over_and_copies_otherwise() -> None:
    """No second copy of the biggest array (3.2 GB at 100M hashes) when the caller hands
    it over (own=True: reordered in place); a caller that keeps it gets it back unchanged."""
    h = _random(5000, 1)
    before = h.copy()
    ids = np.arange(5000, dtype=np.int64)[::-1].copy()
    kept = PDQIndex.build(h, ids)
    assert not np.shares_memory(kept.segments[0].hashes, h)
    assert np.array_equal(h, before)
    owned = PDQIndex.build(h, ids, own=True)
    assert np.shares_memory(owned.segments[0].hashes, h)
    # Same rows in the primary table's order: each id still holds its own hash.
    seg = owned.segments[0]
    assert np.array_equal(before[4999 - seg.id_values()], np.asarray(seg.hashes))
    assert sorted(map(tuple, seg.hashes.tolist())) == sorted(map(tuple, before.tolist()))
    for i in (0, 17, 4999):
        assert owned.search(before[i], 0) == [(4999 - i, 0)]


def test_layout_entries_fit_32_bits_and_100m_rows_fit_7_gb() -> None:
    for n in (10_000, 1_000_000, 10_000_000, 100_000_000, 1 << 27):
        lay = Layout.for_size(n)
        assert sum(lay.lengths) == 256
        assert row_bits(n) + int(kept_bits(lay, n).max()) <= 32
    lay = Layout.for_size(100_000_000)
    assert len(lay.lengths) == 9 and kept_bits(lay, 100_000_000).tolist() == [5] * 9
    # The memory arithmetic of issue 18 at 100M, array by array (bytes).
    n = 100_000_000
    dirs = sum((1 << (ln - sh)) + 1 for ln, sh in zip(lay.lengths, lay.shifts, strict=True))
    total = 32 * n + 4 * n + 4 * n * (len(lay.lengths) - 1) + 4 * dirs + (n + 7) // 8
    # 3,200 MB hashes + 400 ids + 8 x 400 permutations + 151 directories + 12.5 alive bits
    assert total == 6_963_494_980
    assert total <= 7_000_000_000
    with pytest.raises(ValueError, match="32-bit"):
        check_entry_bits(lay, (1 << 27) + 1)


def _rewrite_as_version_3(folder: Path) -> None:
    """Turn a saved index into what the previous release wrote (format 3: rows in id order,
    one permutation per table, a byte per alive flag) as far as the metadata says."""

    def digest(path: Path) -> dict:
        data = path.read_bytes()
        return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}

    manifest = json.loads((folder / "manifest.json").read_text())
    digests = []
    for k in range(len(manifest["body"]["segments"])):
        sub = folder / f"seg{k:04d}"
        meta = json.loads((sub / "segment.json").read_text())
        meta["format"] = 3
        if meta["layout"] is not None:
            del meta["layout"]["primary"]
        (sub / "segment.json").write_text(json.dumps(meta))
        digests.append(digest(sub / "segment.json"))
    body = {"format": 3, "segments": digests, "stamp": manifest["body"]["stamp"]}
    sha = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps({"body": body, "sha256": sha}))


def test_a_version_3_index_is_refused_with_a_message_saying_rebuild(tmp_path: Path) -> None:
    h = _random(5000, 4)
    index = PDQIndex.build(h, np.arange(5000, dtype=np.int64) * 3 + 1000)
    index.save(tmp_path / "idx", stamp="v3")
    _rewrite_as_version_3(tmp_path / "idx")
    with pytest.raises(IndexDamagedError, match=r"version 3 .*rebuild"):
        PDQIndex.load(tmp_path / "idx")
    index.save(tmp_path / "idx")  # a save writes the current format over it
    loaded, _ = PDQIndex.load(tmp_path / "idx")
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["body"]["format"] == FORMAT_VERSION == 4
    assert loaded.search(h[7], 0) == [(1021, 0)]


def test_an_unknown_format_is_refused_with_a_message_saying_rebuild(tmp_path: Path) -> None:
    PDQIndex.build(_random(3000, 2), np.arange(3000)).save(tmp_path / "idx")
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    body = dict(manifest["body"], format=1)
    sha = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    (tmp_path / "idx" / "manifest.json").write_text(json.dumps({"body": body, "sha256": sha}))
    with pytest.raises(IndexDamagedError, match="rebuild"):
        PDQIndex.load(tmp_path / "idx")


def test_parts_round_trip_keeps_the_id_base() -> None:
    h = _random(4000, 6)
    ids = np.arange(4000, dtype=np.int64) + 7_000_000_000
    index = PDQIndex.build(h, ids)
    copy = PDQIndex.from_parts(index.to_parts())
    assert copy.search(h[17], 0) == [(7_000_000_017, 0)]


@pytest.mark.db
def test_the_engine_rebuilds_a_version_3_index_with_one_log_line_saying_so(
    factory: sessionmaker[Session], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An index saved by the previous release is not used: rebuilt from the database, one
    warning naming the format, then saved in format 4 and loaded quietly by the next run."""
    hashes = [np.random.default_rng(8).bytes(32).hex() for _ in range(3000)]
    with transaction(factory) as s:
        bank = service.create_bank(s, "confirmed")
        service.import_rows(s, bank, parse_lines([f"pdq {h}\n" for h in hashes]))
    with factory() as s:
        MatchEngine(factory, tmp_path / "index").match_pdq(s, hashes[:1])
    (folder,) = [p for p in (tmp_path / "index").iterdir() if p.is_dir() and "bank" in p.name]
    _rewrite_as_version_3(folder)
    caplog.set_level(logging.WARNING, logger="openhotline.matching")
    with factory() as s:
        hits = MatchEngine(factory, tmp_path / "index").match_pdq(s, hashes[:50])
    assert sorted(h.query for h in hits if h.distance == 0) == list(range(50))
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "version 3" in warnings[0] and "rebuilding" in warnings[0]
    assert json.loads((folder / "manifest.json").read_text())["body"]["format"] == 4
    caplog.clear()
    with factory() as s:
        assert len(MatchEngine(factory, tmp_path / "index").match_pdq(s, hashes[:5])) >= 5
    assert caplog.records == []

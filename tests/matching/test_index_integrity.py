"""The saved PDQ index proves it matches the database, or is rebuilt (issue 12, Faults).

A restore with the index folder kept, a 0-byte .npy (what a power loss leaves), same-length
damage to any table: none of them may crash the process or give silently wrong answers.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete, update
from sqlalchemy.orm import Session, sessionmaker

from openhotline.db import transaction
from openhotline.matching import service
from openhotline.matching.engine import MatchEngine
from openhotline.matching.formats import parse_lines
from openhotline.matching.index import ARRAYS, IndexDamagedError, PDQIndex, Segment
from openhotline.matching.models import BankEntry, HashBank, HashType


def _random(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2**64 - 1, size=(n, 4), dtype=np.uint64, endpoint=True)


def _hashes(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [rng.bytes(32).hex() for _ in range(n)]


def _saved(tmp_path: Path, n: int = 3000) -> tuple[Path, np.ndarray, np.ndarray]:
    h = _random(n, 1)
    ids = np.arange(n, dtype=np.int64) + 1
    folder = tmp_path / "idx"
    PDQIndex.build(h, ids).save(folder, stamp="s")
    return folder, h, ids


# ---- the files: checksums, bounds, fsync, atomic replacement --------------------------------


@pytest.mark.parametrize("name", ARRAYS)
def test_a_zero_byte_npy_is_damage_not_a_crash(tmp_path: Path, name: str) -> None:
    folder, _, _ = _saved(tmp_path)
    (folder / "seg0000" / f"{name}.npy").write_bytes(b"")
    with pytest.raises(IndexDamagedError):
        PDQIndex.load(folder)


@pytest.mark.parametrize("name", ARRAYS)
def test_same_length_damage_to_any_table_is_caught_by_its_checksum(
    tmp_path: Path, name: str
) -> None:
    folder, _, _ = _saved(tmp_path)
    path = folder / "seg0000" / f"{name}.npy"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x5A  # same length, different content
    path.write_bytes(bytes(data))
    with pytest.raises(IndexDamagedError, match="checksum"):
        PDQIndex.load(folder)


@pytest.mark.parametrize("what", ["manifest", "segment"])
def test_truncated_or_edited_metadata_is_damage(tmp_path: Path, what: str) -> None:
    folder, _, _ = _saved(tmp_path)
    if what == "manifest":
        text = (folder / "manifest.json").read_text()
        (folder / "manifest.json").write_text(text[: len(text) // 2])
    else:
        meta = json.loads((folder / "seg0000" / "segment.json").read_text())
        meta["layout"]["shifts"][0] = 40
        (folder / "seg0000" / "segment.json").write_text(json.dumps(meta))
    with pytest.raises(IndexDamagedError):
        PDQIndex.load(folder)


def test_out_of_range_tables_with_valid_checksums_are_refused_before_any_search(
    tmp_path: Path,
) -> None:
    """Even a file whose checksum was recomputed cannot reach the kernels with a row number
    outside the table (it segfaulted the API server before)."""
    h = _random(3000, 2)
    index = PDQIndex.build(h, np.arange(3000, dtype=np.int64))
    seg = index.segments[0]
    seg.perms = np.array(seg.perms)
    seg.perms[1234] = np.uint32(0xFFFFFFFF)
    index.save(tmp_path / "idx")
    with pytest.raises(IndexDamagedError, match="permutation"):
        PDQIndex.load(tmp_path / "idx")
    seg.perms = np.array(Segment.build(h, np.arange(3000, dtype=np.int64)).perms)
    seg.dir_offsets = np.array(seg.dir_offsets)
    seg.dir_offsets[5] = np.uint32(10**9)
    index.save(tmp_path / "idx")
    with pytest.raises(IndexDamagedError, match="directory"):
        PDQIndex.load(tmp_path / "idx")


def test_save_fsyncs_every_file_and_replaces_the_folder_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, h, _ = _saved(tmp_path)
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    index = PDQIndex.build(_random(3000, 3), np.arange(3000, dtype=np.int64) + 1)
    index.save(folder, stamp="second")
    written = {str(p).replace(str(folder), str(folder) + ".tmp") for p in folder.rglob("*.*")}
    assert written <= set(synced)  # every file, before the rename
    assert str(tmp_path) in synced  # and the rename itself
    monkeypatch.setattr(os, "fsync", real_fsync)

    # A save that dies half-way leaves the previous index whole and loadable.
    def boom(*_a: object, **_k: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", boom)
    with pytest.raises(OSError):
        PDQIndex.build(h, np.arange(3000, dtype=np.int64)).save(folder, stamp="third")
    loaded, stamp = PDQIndex.load(folder)
    assert stamp == "second" and len(loaded) == 3000


# ---- the engine: checkpoint against the database, rebuild on any doubt ---------------------


def _bank(factory: sessionmaker[Session], hashes: list[str]) -> int:
    with transaction(factory) as s:
        bank = service.create_bank(s, "confirmed")
        service.import_rows(s, bank, parse_lines([f"pdq {h}\n" for h in hashes]))
        return bank.id


def _exact_hits(engine: MatchEngine, factory: sessionmaker[Session], hashes: list[str]) -> list:
    with factory() as s:
        by_id = {e.id: e.hash_value for e in s.query(BankEntry)}
        hits = engine.match_pdq(s, hashes)
    return [(h.query, by_id.get(h.entry_id)) for h in hits if h.distance == 0]


def _restore(factory: sessionmaker[Session], bank_id: int, keep: int, new: list[str]) -> None:
    """What restoring an older backup and then importing again does: entries above `keep`
    vanish and the same ids come back holding other hashes; the bank version goes back."""
    with transaction(factory) as s:
        first = min(e.id for e in s.query(BankEntry).filter(BankEntry.bank_id == bank_id))
        s.execute(delete(BankEntry).where(BankEntry.id >= first + keep))
        for k, h in enumerate(new):
            s.add(
                BankEntry(
                    id=first + keep + k, bank_id=bank_id, hash_type=HashType.PDQ.value,
                    hash_value=h, source="after restore",
                )
            )  # fmt: skip
        s.execute(update(HashBank).where(HashBank.id == bank_id).values(version=1))


@pytest.mark.db
def test_index_kept_across_a_database_restore_is_proved_wrong_and_rebuilt(
    factory: sessionmaker[Session], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12: 500 hashes no longer in the database still matched at distance 0, and 500
    present ones matched nothing, because the saved index was only caught up by id."""
    old, new = _hashes(3000, 10), _hashes(500, 11)
    bank_id = _bank(factory, old)
    first = MatchEngine(factory, tmp_path / "index")
    assert len(_exact_hits(first, factory, old[:10])) == 10  # built and saved
    _restore(factory, bank_id, keep=2500, new=new)
    caplog.set_level(logging.WARNING, logger="openhotline.matching")
    engine = MatchEngine(factory, tmp_path / "index")
    assert _exact_hits(engine, factory, old[2500:]) == []  # gone: no match at all
    assert _exact_hits(engine, factory, new) == [(i, h) for i, h in enumerate(new)]
    assert _exact_hits(engine, factory, old[:50]) == [(i, h) for i, h in enumerate(old[:50])]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "does not match the database" in warnings[0]


@pytest.mark.db
def test_a_restore_under_a_running_engine_is_noticed(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    old, new = _hashes(3000, 12), _hashes(300, 13)
    bank_id = _bank(factory, old)
    engine = MatchEngine(factory, tmp_path / "index")
    assert len(_exact_hits(engine, factory, old[2900:])) == 100
    with transaction(factory) as s:  # the running engine has seen a later version
        s.execute(update(HashBank).where(HashBank.id == bank_id).values(version=50))
    assert len(_exact_hits(engine, factory, old[2900:])) == 100
    _restore(factory, bank_id, keep=2700, new=new)
    assert _exact_hits(engine, factory, old[2700:]) == []
    assert _exact_hits(engine, factory, new) == [(i, h) for i, h in enumerate(new)]


@pytest.mark.db
@pytest.mark.parametrize(
    "damage", ["zero-byte hashes", "zero-byte perms", "perms same length", "ids same length"]
)
def test_damaged_index_files_mean_a_rebuild_with_one_log_line(
    factory: sessionmaker[Session],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    damage: str,
) -> None:
    hashes = _hashes(3000, 14)
    _bank(factory, hashes)
    with factory() as s:
        MatchEngine(factory, tmp_path / "index").match_pdq(s, hashes[:1])
    name = damage.split()[-1] if "zero" in damage else damage.split()[0]
    (path,) = (tmp_path / "index").rglob(f"{name}.npy")
    if damage.startswith("zero"):
        path.write_bytes(b"")
    else:
        data = bytearray(path.read_bytes())
        for k in range(200, len(data), 997):  # scattered same-length damage
            data[k] ^= 0xFF
        path.write_bytes(bytes(data))
    caplog.set_level(logging.WARNING, logger="openhotline.matching")
    engine = MatchEngine(factory, tmp_path / "index")
    assert _exact_hits(engine, factory, hashes) == [(i, h) for i, h in enumerate(hashes)]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "rebuilding" in warnings[0]
    # The rebuilt index was saved whole: the next process loads it without complaint.
    caplog.clear()
    again = MatchEngine(factory, tmp_path / "index")
    assert len(_exact_hits(again, factory, hashes[:20])) == 20
    assert caplog.records == []


@pytest.mark.db
def test_removals_since_the_save_are_applied_without_a_rebuild(
    factory: sessionmaker[Session], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hashes = _hashes(3000, 15)
    bank_id = _bank(factory, hashes)
    with factory() as s:
        MatchEngine(factory, tmp_path / "index").match_pdq(s, hashes[:1])
    with transaction(factory) as s:
        bank = s.get(HashBank, bank_id)
        assert bank is not None
        for h in hashes[:40]:
            service.remove_entry(s, bank, HashType.PDQ, h)
        added = service.add_entry(s, bank, HashType.PDQ, "e" * 64)
    caplog.set_level(logging.WARNING, logger="openhotline.matching")
    engine = MatchEngine(factory, tmp_path / "index")
    assert _exact_hits(engine, factory, hashes[:40]) == []
    assert len(_exact_hits(engine, factory, hashes[40:])) == 2960
    assert _exact_hits(engine, factory, ["e" * 64]) == [(0, added.hash_value)]
    assert caplog.records == []  # the checkpoint held: loaded, not rebuilt


# ---- several server processes: one saved copy, memory-mapped by each ------------------------


@pytest.mark.db
def test_server_processes_share_one_memory_mapped_index(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """Two engines (two `serve` workers) opening a bank at once: one builds and saves it,
    the other waits for the files; both then search the same memory-mapped tables."""
    hashes = _hashes(3000, 20)
    bank_id = _bank(factory, hashes)
    engines = [MatchEngine(factory, tmp_path / "index") for _ in range(2)]
    results: list[list] = [[], []]

    def worker(k: int) -> None:
        results[k] = _exact_hits(engines[k], factory, hashes[:20])

    import threading

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    expected = [(i, h) for i, h in enumerate(hashes[:20])]
    assert results == [expected, expected]
    for engine in engines:
        index = engine._banks[bank_id].index
        assert index.segments and index.is_mapped()
    paths = {
        Path(e._banks[bank_id].index.segments[0].hashes.filename).resolve()  # type: ignore[attr-defined]
        for e in engines
    }
    assert paths == {(tmp_path / "index" / f"bank-{bank_id}" / "seg0000" / "hashes.npy").resolve()}


def test_an_index_built_in_memory_moves_onto_its_saved_files(tmp_path: Path) -> None:
    h, ids = _random(3000, 3), np.arange(3000, dtype=np.int64) + 1
    index = PDQIndex.build(h, ids)
    assert not index.is_mapped()
    index.save(tmp_path / "idx")
    index.remove([5])  # a tombstone made before sharing stays
    assert index.share_from(tmp_path / "idx") and index.is_mapped()
    assert [i for i, _ in index.search(h[4], 0)] == []
    assert [i for i, _ in index.search(h[6], 0)] == [7]
    other = PDQIndex.build(_random(3000, 4), ids)
    assert not other.share_from(tmp_path / "idx")  # not its files: left as it was
    assert not other.is_mapped()


@pytest.mark.db
def test_an_index_folder_that_cannot_be_written_leaves_matching_working(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    hashes = _hashes(300, 21)
    _bank(factory, hashes)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the index folder's parent should be")
    engine = MatchEngine(factory, blocker / "index")  # no lock file, no saved copy
    assert _exact_hits(engine, factory, hashes[:3]) == [(i, h) for i, h in enumerate(hashes[:3])]

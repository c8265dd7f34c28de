"""Bank services and the match engine against a real SQLite database."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.db import transaction
from openhotline.matching import service
from openhotline.matching.engine import MatchEngine
from openhotline.matching.formats import Row, parse_lines
from openhotline.matching.matcher import QueryHash, match
from openhotline.matching.models import BankEntry, HashType

pytestmark = pytest.mark.db


def _hashes(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [rng.bytes(32).hex() for _ in range(n)]


def _flip(h: str, bits: list[int]) -> str:
    v = int(h, 16)
    for b in bits:
        v ^= 1 << b
    return f"{v:064x}"


def test_bank_lifecycle_and_errors(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        bank = service.create_bank(s, "partner-x", pdq_radius=20)
        e = service.add_entry(s, bank, HashType.MD5, "A" * 32, classification="category A")
        again = service.add_entry(s, bank, HashType.MD5, "a" * 32)
        assert again.id == e.id
        with pytest.raises(service.BankError):
            service.create_bank(s, "partner-x")
        with pytest.raises(ValueError):
            service.add_entry(s, bank, HashType.PDQ, "abc")
    with transaction(factory) as s:
        bank = service.get_bank(s, "partner-x")
        assert service.remove_entry(s, bank, HashType.MD5, "a" * 32) == 1
        assert service.remove_entry(s, bank, HashType.MD5, "a" * 32) == 0
        # removed entries stay as a trace; the hash can be added again
        service.add_entry(s, bank, HashType.MD5, "a" * 32)
        rows = s.scalars(select(BankEntry).order_by(BankEntry.id)).all()
        assert [r.removed_at is not None for r in rows] == [True, False]
        assert service.list_banks(s)[0][1] == 1
        with pytest.raises(service.BankError):
            service.get_bank(s, "nope")


def test_import_streams_in_batches_and_counts(factory: sessionmaker[Session]) -> None:
    hashes = _hashes(120)
    lines = [f"pdq {h}\n" for h in hashes] + ["pdq nothex\n", f"pdq {hashes[0]}\n", "md5 12\n"]
    seen: list[int] = []
    with transaction(factory) as s:
        bank = service.create_bank(s, "b")
        res = service.import_rows(
            s, bank, parse_lines(lines), batch_size=50, on_batch=lambda r, _n: seen.append(r.added)
        )
    assert (res.added, res.duplicates, res.bad) == (120, 1, 2)
    assert seen == [50, 100, 120]
    assert res.examples == [
        "line 121: pdq hash is not hexadecimal",
        "line 123: md5 hash must have 32 hex digits, not 2",
    ]
    with factory() as s:
        bank = service.get_bank(s, "b")
        assert [e.hash_value for e in service.iter_entries(s, bank, chunk=7)] == hashes


def test_engine_sees_changes_and_persists(factory: sessionmaker[Session], tmp_path: Path) -> None:
    hashes = _hashes(3000, 1)
    with transaction(factory) as s:
        bank = service.create_bank(s, "a")
        other = service.create_bank(s, "off", pdq_radius=10)
        service.import_rows(s, bank, parse_lines([f"pdq {h}\n" for h in hashes]))
        service.add_entry(s, other, HashType.PDQ, hashes[0])
        service.set_bank_options(s, other, enabled=False)
    engine = MatchEngine(factory, tmp_path / "index")
    near = _flip(hashes[7], list(range(0, 250, 25)))  # 10 bits away
    with factory() as s:
        hits = engine.match_pdq(s, [near, hashes[0]])
    assert [(h.query, h.bank, h.distance) for h in hits] == [(0, "a", 10), (1, "a", 0)]
    with transaction(factory) as s:
        bank = service.get_bank(s, "a")
        service.remove_entry(s, bank, HashType.PDQ, hashes[7])
        added = service.add_entry(s, bank, HashType.PDQ, "f" * 64).id
    with factory() as s:
        hits = engine.match_pdq(s, [near, "f" * 64])
    assert [(h.query, h.entry_id) for h in hits] == [(1, added)]
    # A second engine (another process) loads the persisted index and catches up.
    second = MatchEngine(factory, tmp_path / "index")
    with factory() as s:
        hits = second.match_pdq(s, [near, "f" * 64, hashes[1]])
    assert [(h.query, h.distance) for h in hits] == [(1, 0), (2, 0)]
    # A damaged index folder is rebuilt from the database.
    for f in (tmp_path / "index").rglob("hashes.npy"):
        f.write_bytes(b"garbage")
    third = MatchEngine(factory, tmp_path / "index")
    with factory() as s:
        assert len(third.match_pdq(s, [hashes[2]])) == 1


def test_match_combines_exact_and_pdq_and_skips_weak(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    h = _hashes(1, 2)[0]
    with transaction(factory) as s:
        bank = service.create_bank(s, "mix")
        service.add_entry(s, bank, HashType.PDQ, h, classification="category A")
        service.add_entry(s, bank, HashType.SHA256, "c" * 64)
    engine = MatchEngine(factory, None)
    near = _flip(h, [1, 2, 3])
    with factory() as s:
        res = match(
            s,
            engine,
            [
                QueryHash("sha256", HashType.SHA256, "c" * 64),
                QueryHash("pdq", HashType.PDQ, near, 80),
                QueryHash("pdq:flip_h", HashType.PDQ, h, 80),
            ],
        )
        assert [(m.hash_type, m.distance, m.query) for m in res["mix"]] == [
            ("pdq", 0, "pdq:flip_h"),
            ("sha256", 0, "sha256"),
        ]
        # A weak image's own hash is never lost to the quality gate (issue 13); a guess
        # made from a weak image (here a crop guess) only matches an identical hash, and
        # its cuts (a trimmed copy) only within WEAK_CUT_RADIUS (8 bits).
        weak = match(s, engine, [QueryHash("pdq", HashType.PDQ, near, 10)])
        assert [(m.distance, m.query) for m in weak["mix"]] == [(3, "pdq")]
        guess = match(s, engine, [QueryHash("pdq:uncrop5", HashType.PDQ, near, 10)])
        assert guess == {}
        cut = match(s, engine, [QueryHash("pdq:trim", HashType.PDQ, near, 10)])
        assert [(m.distance, m.query) for m in cut["mix"]] == [(3, "pdq:trim")]
        far = match(s, engine, [QueryHash("pdq:trim", HashType.PDQ, _flip(h, list(range(9))), 10)])
        assert far == {}
        same = match(s, engine, [QueryHash("pdq:trim", HashType.PDQ, h, 10)])
        assert [(m.distance, m.query) for m in same["mix"]] == [(0, "pdq:trim")]
        margin = match(s, engine, [QueryHash("pdq:trim", HashType.PDQ, near, 90)], 30)
        assert margin == {}


def _grade_rows(grades: list[tuple[str, str]]) -> list[Row]:
    return [
        Row(line=n, hash_type=HashType.MD5, hash_value=value, classification=grade)
        for n, (value, grade) in enumerate(grades, start=1)
    ]


def test_regrades_from_the_live_map_equal_regrades_read_back(
    factory: sessionmaker[Session],
) -> None:
    """A snapshot's regrades diffed in memory give what a re-read of the database gives."""
    old = [("a" * 32, "category A"), ("b" * 32, "category B"), ("c" * 32, "baseline")]
    new = [
        ("a" * 32, "category B"),  # regraded
        ("b" * 32, "category B"),  # unchanged
        ("d" * 32, "category A"),  # new, named twice with two grades: the last one wins
        ("d" * 32, "baseline"),
        ("e" * 32, "category A"),  # new
    ]
    results: dict[str, tuple[int, dict[str, str], int]] = {}
    for mode in ("read back", "live map"):
        with transaction(factory) as s:
            bank = service.create_bank(s, f"regrade-{mode.replace(' ', '-')}")
            service.import_rows(s, bank, _grade_rows(old))
        with transaction(factory) as s:
            bank = service.get_bank(s, f"regrade-{mode.replace(' ', '-')}")
            live = service.live_entries(s, bank) if mode == "live map" else None
            service.import_rows(s, bank, _grade_rows(new))
            selects: list[str] = []

            def count(*args: object, selects: list[str] = selects) -> None:
                statement = str(args[2])
                if statement.lstrip().upper().startswith("SELECT"):
                    selects.append(statement)

            event.listen(s.get_bind(), "before_cursor_execute", count)
            try:
                changed = service.reclassify_rows(s, bank, _grade_rows(new), live=live)
            finally:
                event.remove(s.get_bind(), "before_cursor_execute", count)
            grades = dict(
                s.execute(
                    select(BankEntry.hash_value, BankEntry.classification).where(
                        BankEntry.bank_id == bank.id
                    )
                ).all()
            )
            results[mode] = (changed, grades, len(selects))
    assert results["live map"][:2] == results["read back"][:2]
    assert results["live map"][0] == 2  # a: A -> B, d: the second grade
    assert results["live map"][1]["a" * 32] == "category B"
    assert results["live map"][1]["d" * 32] == "baseline"
    # Only the hash named twice is looked up; the read-back path queries every hash.
    assert results["live map"][2] == 1 and results["read back"][2] >= 1

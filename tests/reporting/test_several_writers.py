"""Several server processes write one database: each has its own engine and group committer.

Two engines stand for two processes here (SQLite's locks are per connection, so this is
what two `serve` workers do to the file); the real two-process server is exercised by
tests/reporting/test_durability.py.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.cases.models import Case
from openhotline.db import (
    GroupCommitter,
    WriterGate,
    make_engine,
    make_sessionmaker,
    write_transaction,
)
from openhotline.reporting import service
from openhotline.reporting.idempotency import idempotency_key
from openhotline.reporting.models import IntakeIdempotencyKey, Report
from openhotline.reporting.schemas import ReportIn


def test_two_processes_writers_neither_fail_nor_duplicate(
    db_url: str, session_factory: sessionmaker[Session]
) -> None:
    engines = [make_engine(db_url) for _ in range(2)]
    committers = [GroupCommitter(make_sessionmaker(e)) for e in engines]
    errors: list[BaseException] = []
    answers: dict[str, set[str]] = {}
    lock = threading.Lock()

    def client(c: int, t: int) -> None:
        committer = committers[c]
        for i in range(40):
            # Half the keys are shared by the two "processes": each must be filed once.
            shared = i % 2 == 0
            name = f"k-{t}-{i}" if shared else f"k-{c}-{t}-{i}"
            body: dict[str, Any] = {"urls": [f"http://writers.test/{name}"]}
            key = idempotency_key(name, "public", body, 24)
            prepared = service.prepare_report(ReportIn.model_validate(body))
            try:
                answer, _replayed = committer.run(
                    service.store_reports_once, (prepared, "public", key)
                )
            except BaseException as exc:  # collected for the assertion
                with lock:
                    errors.append(exc)
                continue
            with lock:
                answers.setdefault(name, set()).add(answer["receipt"])

    threads = [threading.Thread(target=client, args=(c, t)) for c in range(2) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    for committer in committers:
        committer.close()
    for e in engines:
        e.dispose()
    assert errors == []
    assert all(len(receipts) == 1 for receipts in answers.values())
    with session_factory() as s:
        stored = s.execute(select(func.count()).select_from(Report)).scalar_one()
        keys = s.execute(select(func.count()).select_from(IntakeIdempotencyKey)).scalar_one()
    # 4 threads x 40 reports per process; the 80 shared keys are filed once, not twice.
    assert len(answers) == stored == keys == 2 * 4 * 20 + 4 * 20


def test_writer_gate_is_one_lock_file_per_sqlite_database(tmp_path: Path) -> None:
    """Two processes' committers on one SQLite file share its gate; other databases get none."""
    file_factory = make_sessionmaker(make_engine(f"sqlite:///{tmp_path / 'a.sqlite'}"))
    gate = WriterGate.for_factory(file_factory)
    assert gate is not None and gate.path == tmp_path / "a.sqlite.writers"
    memory = sessionmaker(bind=create_engine("sqlite://"))
    assert WriterGate.for_factory(memory) is None
    postgres = sessionmaker(bind=create_engine("postgresql+psycopg://u@127.0.0.1:1/x"))
    assert WriterGate.for_factory(postgres) is None


def test_writer_gate_holds_back_a_second_writer_until_released(tmp_path: Path) -> None:
    """A second holder (its own open file, as another process has) waits for the first."""
    first, second = WriterGate(tmp_path / "db.writers"), WriterGate(tmp_path / "db.writers")
    order: list[str] = []
    entered = threading.Event()

    def other() -> None:
        with second.held():
            order.append("second")
        entered.set()

    with first.held():
        thread = threading.Thread(target=other)
        thread.start()
        # The second writer cannot get in while the first holds the gate.
        assert not entered.wait(0.3)
        order.append("first done")
    thread.join(timeout=10)
    assert order == ["first done", "second"]
    first.close()
    second.close()


def test_batch_items_are_validated_before_the_gate_is_taken(db_url: str, tmp_path: Path) -> None:
    """The writer prepares a job (CPU work) while other processes may hold the write gate."""
    import asyncio
    import fcntl
    import os

    if not db_url.startswith("sqlite"):
        pytest.skip("the gate is SQLite's")
    engine = make_engine(db_url)
    committer = GroupCommitter(make_sessionmaker(engine))
    gate = WriterGate.for_factory(make_sessionmaker(engine))
    assert gate is not None
    seen: list[bool] = []

    def prepare(raw: int) -> int:
        if raw < 0:
            raise ValueError("bad item")
        # Another holder (its own open file, as another process) gets the gate at once.
        fd = os.open(gate.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            seen.append(True)
            fcntl.flock(fd, fcntl.LOCK_UN)
        except BlockingIOError:
            seen.append(False)
        finally:
            os.close(fd)
        return raw * 2

    def store(_session: Session, items: list[int]) -> list[int]:
        return [i + 1 for i in items]

    async def go() -> tuple[int, BaseException | None]:
        good = committer.run_prepared_async(prepare, 20, store)
        bad = committer.run_prepared_async(prepare, -1, store)
        results = await asyncio.gather(good, bad, return_exceptions=True)
        return results[0], results[1]  # type: ignore[return-value]

    good, bad = asyncio.run(go())
    committer.close()
    engine.dispose()
    assert good == 41
    assert isinstance(bad, ValueError)  # only its own job failed
    assert seen == [True]


def _batches_of(urls: list[str]) -> service.PreparedBatch:
    return service.prepare_batch([{"urls": [u]} for u in urls])


def test_two_writers_filing_the_same_new_urls_in_other_orders_do_not_deadlock(
    db_url: str, session_factory: sessionmaker[Session]
) -> None:
    """Two processes' transactions, each a group of two partner batches with the same URLs
    in the opposite order (one URL reported through both at once), both commit.

    On PostgreSQL the second insert of a new URL waits for the first transaction: with the
    cases inserted batch by batch in submission order each transaction held rows the other
    waited for ("deadlock detected"); in one sorted order one simply waits for the other.
    """
    first = [f"http://order.test/a/{i}" for i in range(300)]
    second = [f"http://order.test/b/{i}" for i in range(300)]
    engines = [make_engine(db_url) for _ in range(2)]
    groups = [
        [(_batches_of(first), "p", None), (_batches_of(second), "p", None)],
        [(_batches_of(second[::-1]), "p", None), (_batches_of(first[::-1]), "p", None)],
    ]
    start = threading.Barrier(2)
    errors: list[BaseException] = []
    answers: list[list[tuple[dict[str, Any], bool]]] = []

    def writer(n: int) -> None:
        factory = make_sessionmaker(engines[n])
        try:
            start.wait(timeout=30)
            with write_transaction(factory) as session:
                answers.append(service.store_batches_once(session, groups[n]))
        except BaseException as exc:  # collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    for e in engines:
        e.dispose()
    assert errors == []
    assert [a["accepted"] for group in answers for a, _replayed in group] == [300] * 4
    with session_factory() as s:
        cases = s.execute(select(func.count()).select_from(Case)).scalar_one()
        counts = set(s.execute(select(Case.report_count)).scalars())
        reports = s.execute(select(func.count()).select_from(Report)).scalar_one()
    assert (cases, counts, reports) == (600, {2}, 1200)


def test_key_less_batches_of_one_group_keep_external_id_dedupe(
    session_factory: sessionmaker[Session],
) -> None:
    """Batches written together still see each other's external_ids, as one by one did."""
    one = service.prepare_batch([{"urls": ["http://ext.test/1"], "external_id": "e1"}])
    two = service.prepare_batch(
        [
            {"urls": ["http://ext.test/1"], "external_id": "e1"},
            {"urls": ["http://ext.test/2"], "external_id": "e2"},
        ]
    )
    with write_transaction(session_factory) as session:
        (first, _), (second, _) = service.store_batches_once(
            session, [(one, "p", None), (two, "p", None)]
        )
    assert second["results"][0]["duplicate"] is True
    assert second["results"][0]["receipt"] == first["results"][0]["receipt"]
    assert second["results"][1]["duplicate"] is False
    with session_factory() as s:
        assert s.execute(select(func.count()).select_from(Report)).scalar_one() == 2

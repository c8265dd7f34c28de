"""db.BulkInsert: raw bulk inserts keep every value; lossy column lists are refused."""

from __future__ import annotations

from typing import cast

import pytest
from sqlalchemy import Table, event, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from openhotline.cases.models import Case, CaseEvent, CaseEventKind, CaseStatus
from openhotline.db import BulkInsert, utcnow

CASES = cast(Table, Case.__table__)
CASE_EVENTS = cast(Table, CaseEvent.__table__)


def test_a_python_side_default_left_out_is_refused() -> None:
    # Nothing fills Python-side defaults in raw SQL: leaving one out would store NULL.
    with pytest.raises(ValueError, match="Python-side defaults left out"):
        BulkInsert(CASES, ("canonical_url", "url_hash", "host"))


def test_an_unknown_column_is_refused() -> None:
    with pytest.raises(ValueError, match="has no column nope"):
        BulkInsert(CASES, ("nope",))


def test_rows_round_trip_and_conflicts_are_skipped(
    session_factory: sessionmaker[Session],
) -> None:
    bulk = BulkInsert(
        CASES,
        ("canonical_url", "url_hash", "host", "status", "priority", "report_count",
         "created_at", "updated_at", "legal_hold"),
        ignore_conflicts=True,
    )  # fmt: skip
    with session_factory() as s:
        now = utcnow()
        at, status = bulk.bind(s, "created_at", now), bulk.bind(s, "status", CaseStatus.NEW)
        rows = [(f"http://b.test/{i}", f"h{i}", "b.test", status, 0, 1, at, at, False)
                for i in range(3)]  # fmt: skip
        assert len(bulk.returning(s, rows, ("id",))) == 3
        assert bulk.returning(s, rows[:2], ("id",)) == []  # conflicts: nothing inserted
        bulk.execute(s, [(*rows[0][:1], "h9", *rows[0][2:])])
        s.commit()
        got = s.execute(select(Case).order_by(Case.id)).scalars().all()
    assert [c.url_hash for c in got] == ["h0", "h1", "h2", "h9"]
    assert got[0].status == CaseStatus.NEW and got[0].created_at == now


def _cases_bulk() -> BulkInsert:
    return BulkInsert(
        CASES,
        ("canonical_url", "url_hash", "host", "status", "priority", "report_count",
         "created_at", "updated_at", "legal_hold"),
        ignore_conflicts=True,
    )  # fmt: skip


def test_postgresql_takes_any_number_of_rows_in_one_statement_of_one_text(
    db_url: str, session_factory: sessionmaker[Session]
) -> None:
    """PostgreSQL gets rows as column arrays (unnest): one round trip per insert, and one
    short statement text for any number of rows, which psycopg converts once and caches
    (a 500-row VALUES list was parsed again on every group)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's path")
    bulk = _cases_bulk()
    sent: list[str] = []
    with session_factory() as s:
        event.listen(s.connection(), "before_cursor_execute", lambda *a: sent.append(a[2]))
        at, status = bulk.bind(s, "created_at", utcnow()), bulk.bind(s, "status", CaseStatus.NEW)
        for start, n in ((0, 1_200), (1_200, 7)):
            rows = [(f"http://u.test/{i}", f"u{i}", "u.test", status, 0, 1, at, at, False)
                    for i in range(start, start + n)]  # fmt: skip
            assert len(bulk.returning(s, rows, ("id",))) == n
        bulk.execute(s, [(f"http://u.test/{i}", f"v{i}", "u.test", status, 0, 1, at, at, False)
                         for i in range(900)])  # fmt: skip
        s.commit()
        assert s.scalar(select(func.count()).select_from(CASES)) == 2_107
    assert len(sent) == 3
    assert sent[0] == sent[1] and len(sent[0]) < 500


def test_nulls_and_lengths_are_kept_by_every_path(
    session_factory: sessionmaker[Session],
) -> None:
    """A column of NULLs goes in as NULLs, and a value longer than its column is refused,
    never cut short (PostgreSQL's arrays are cast without a length for this)."""
    bulk = BulkInsert(CASE_EVENTS, ("case_id", "at", "kind", "to_status", "actor"))
    with session_factory() as s:
        at, status = utcnow(), CaseStatus.NEW
        cases = _cases_bulk().returning(
            s, [("http://n.test/", "n0", "n.test", bulk.bind(s, "to_status", status), 0, 1,
                 bulk.bind(s, "at", at), bulk.bind(s, "at", at), False)], ("id",)
        )  # fmt: skip
        case_id = cases[0][0]
        kind, when = bulk.bind(s, "kind", CaseEventKind.RECEIVED), bulk.bind(s, "at", at)
        bulk.execute(s, [(case_id, when, kind, None, None), (case_id, when, kind, None, "r")])
        s.flush()
        got = s.execute(select(CaseEvent.to_status, CaseEvent.actor).order_by(CaseEvent.id))
        assert [tuple(r) for r in got] == [(None, None), (None, "r")]
        if s.get_bind().dialect.name == "postgresql":
            too_long = "x" * (CASE_EVENTS.c.actor.type.length + 1)  # type: ignore[attr-defined]
            with pytest.raises(DBAPIError):
                bulk.execute(s, [(case_id, when, kind, None, too_long)])

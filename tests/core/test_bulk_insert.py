"""db.BulkInsert: raw bulk inserts refuse a column list that would silently lose data."""

from __future__ import annotations

from typing import cast

import pytest
from sqlalchemy import Table, select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.cases.models import Case, CaseStatus
from openhotline.db import BulkInsert, utcnow

CASES = cast(Table, Case.__table__)


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

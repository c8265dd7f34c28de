"""Trend tables from the database: suppression holds across every table published for a year."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.db import transaction
from openhotline.helpline import resources, trends
from openhotline.helpline.models import HelplineContact
from openhotline.helpline.suppression import CountTable
from openhotline.helpline.taxonomy import UNKNOWN
from tests.helpline.helpers import TAXONOMY, child_input, record, seed_year
from tests.helpline.test_suppression import modp_determined, subtraction_attack

NOW = datetime(2026, 3, 5, tzinfo=UTC)


def _true_table(session: Session, pub: trends.PublishedTable) -> CountTable:
    """Count contacts in Python (independently of the SQL) and mark what was published."""
    counts: Counter[tuple[str, str]] = Counter()
    for c in session.execute(select(HelplineContact)).scalars():
        if pub.by == "resource":
            for res in resources.resources_of_contact(session, c.id):
                counts[(c.period, res.code)] += 1
        elif pub.by == "category":
            cats = [x.category for x in c.categories] or [UNKNOWN]
            for cat in cats:
                counts[(c.period, cat if cat in pub.columns else UNKNOWN)] += 1
        else:
            code = getattr(c, pub.by) or UNKNOWN
            counts[(c.period, code if code in pub.columns else UNKNOWN)] += 1
    cells = [[counts[(r, col)] for col in pub.columns] for r in pub.rows]
    tb = CountTable(pub.rows, pub.columns, cells)
    r, k = len(pub.rows), len(pub.columns)
    for i in range(r):
        for j in range(k):
            if pub.cells[i][j] is None:
                tb.hidden.add((i, j))
            else:
                assert pub.cells[i][j] == cells[i][j]
        if pub.row_totals[i] is None:
            tb.hidden.add((i, k))
    for j in range(k):
        if pub.column_totals[j] is None:
            tb.hidden.add((r, j))
    if pub.total is None:
        tb.hidden.add((r, k))
    return tb


def test_year_tables_resist_differencing(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as s:
        seed_year(s, 2025, 150)
        record(s, child_input(), at=datetime(2026, 3, 1, tzinfo=UTC))  # running month: left out
    with transaction(session_factory) as s:
        tables = trends.build_year(s, 2025, TAXONOMY, 5, NOW)
        assert set(tables) == set(trends.DIMENSIONS)
        apart = ("category", "resource")
        contact_group = [_true_table(s, t) for by, t in tables.items() if by not in apart]
        category = _true_table(s, tables["category"])
    for tb in [*contact_group, category]:
        for pos in tb.positions():
            if 0 < tb.value(pos) < 5:
                assert pos in tb.hidden
    assert tables["mode"].total == 150
    assert subtraction_attack(contact_group) == {}
    assert modp_determined(contact_group) == set()
    assert subtraction_attack([category]) == {} and modp_determined([category]) == set()
    with transaction(session_factory) as s:
        assert trends.build_year(s, 2026, TAXONOMY, 5, NOW)["mode"].rows == ["2026-01", "2026-02"]


def test_csv_and_annual_export_match_the_tables(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as s:
        seed_year(s, 2025, 80, seed=11)
    with transaction(session_factory) as s:
        tables = trends.build_year(s, 2025, TAXONOMY, 5, NOW)
        annual = trends.annual_export(s, 2025, TAXONOMY, 5, NOW)
    age = tables["age_band"]
    rows = list(csv.reader(io.StringIO(age.as_csv())))
    assert rows[0] == ["period", *age.columns, "total"]
    assert len(rows) == 1 + 12 + 1
    flat = [v for row in rows[1:] for v in row[1:]]
    assert all(v == "*" or v.isdigit() for v in flat)
    assert all(v == "*" or int(v) == 0 or int(v) >= 5 for v in flat)
    assert annual["format"] == "openhotline.helpline.annual/1"
    assert annual["contacts_total"] == 80
    for by in ("contact_type", "category", "age_band", "gender"):
        assert annual[f"by_{by}"] == dict(
            zip(tables[by].columns, tables[by].column_totals, strict=True)
        )


def test_small_year_is_fully_protected(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as s:
        for _ in range(3):
            record(s, child_input(), at=datetime(2025, 5, 2, tzinfo=UTC))
    with transaction(session_factory) as s:
        table = trends.build_year(s, 2025, TAXONOMY, 5, NOW)["channel"]
    assert table.total is None
    assert all(v is None or v == 0 for row in table.cells for v in row)

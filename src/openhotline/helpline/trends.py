"""Anonymised trend tables: contacts per month by one dimension, with suppression.

Published tables are always whole calendar years, one row per *ended* month, so that
no query can be differenced against another (a running month or an arbitrary date range
would let two queries a day apart reveal one contact). All contact tables of a year are
suppressed together because they share their row totals (contacts per month); categories
count mentions (a contact may have several) and are suppressed on their own.

Annual export (`annual_export`), in the shape a network such as Child Helpline
International collects each year:

    {
      "format": "openhotline.helpline.annual/1",
      "year": 2025, "months": ["2025-01", ...],
      "suppression": {"k": 5, "null": "fewer than k, or hidden so that one cannot be derived"},
      "contacts_total": 1234 | null,
      "by_contact_type": {"<code>": n | null, ..., "unknown": n | null},
      "by_channel": {...}, "by_age_band": {...}, "by_gender": {...}, "by_region": {...},
      "by_mode": {...}, "by_outcome": {...},
      "by_category": {...}        # category mentions, not contacts
      "labels": {"contact_type": {"<code>": "<label>"}, ...}
    }

Every figure is a column total of the suppressed monthly tables, so the export cannot be
combined with the monthly tables to recover a hidden value.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.helpline.models import ContactCategory, HelplineContact
from openhotline.helpline.resource_models import ContactResource, HelplineResource
from openhotline.helpline.suppression import CountTable, suppress
from openhotline.helpline.taxonomy import UNKNOWN, Taxonomy

# Dimension name → (contact column, taxonomy list); "category" is handled apart.
CONTACT_DIMENSIONS: dict[str, tuple[Any, str]] = {
    "channel": (HelplineContact.channel, "channels"),
    "contact_type": (HelplineContact.contact_type, "contact_types"),
    "age_band": (HelplineContact.age_band, "age_bands"),
    "gender": (HelplineContact.gender, "genders"),
    "region": (HelplineContact.region, "regions"),
    "outcome": (HelplineContact.outcome, "outcomes"),
    "mode": (HelplineContact.mode, ""),
}
DIMENSIONS = (*CONTACT_DIMENSIONS, "category", "resource")
MODE_LABELS = {"child": "Child helpline", "prevention": "Prevention helpline"}


@dataclass(frozen=True)
class PublishedTable:
    """A suppressed period-by-dimension table: None marks a hidden value."""

    year: int
    by: str
    k: int
    rows: list[str]
    columns: list[str]
    column_labels: list[str]
    cells: list[list[int | None]]
    row_totals: list[int | None]
    column_totals: list[int | None]
    total: int | None
    counts: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "year": self.year,
            "by": self.by,
            "k": self.k,
            "rows": self.rows,
            "columns": self.columns,
            "column_labels": self.column_labels,
            "cells": self.cells,
            "row_totals": self.row_totals,
            "column_totals": self.column_totals,
            "total": self.total,
            "counts": self.counts,
        }

    def as_csv(self) -> str:
        """CSV with a header; hidden values are written as '*'."""

        def show(v: int | None) -> str:
            return "*" if v is None else str(v)

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["period", *self.columns, "total"])
        for period, cells, total in zip(self.rows, self.cells, self.row_totals, strict=True):
            writer.writerow([period, *map(show, cells), show(total)])
        writer.writerow(["total", *map(show, self.column_totals), show(self.total)])
        return out.getvalue()


def ended_months(year: int, now: datetime) -> list[str]:
    """The months of year that have ended by now ('YYYY-MM')."""
    current = f"{now.year:04d}-{now.month:02d}"
    return [p for p in (f"{year:04d}-{m:02d}" for m in range(1, 13)) if p < current]


def _labels(by: str, taxonomy: Taxonomy) -> dict[str, str]:
    if by == "mode":
        return dict(MODE_LABELS)
    if by == "category":
        return dict(taxonomy.categories)
    return dict(taxonomy.labels(CONTACT_DIMENSIONS[by][1]))


def _grid(
    rows: list[str], labels: dict[str, str], counts: list[tuple[str, str | None, int]]
) -> CountTable:
    cols = [*labels, UNKNOWN]
    col_of = {c: n for n, c in enumerate(cols)}
    row_of = {r: n for n, r in enumerate(rows)}
    cells = [[0] * len(cols) for _ in rows]
    for period, code, n in counts:
        if period in row_of:
            cells[row_of[period]][col_of.get(code or UNKNOWN, col_of[UNKNOWN])] += n
    return CountTable(rows, cols, cells)


def _publish(
    year: int, by: str, k: int, table: CountTable, labels: dict[str, str], counts: str
) -> PublishedTable:
    r, c = table.n_rows, table.n_cols
    col_labels = [labels.get(code, "Not recorded") for code in table.cols]
    return PublishedTable(
        year=year,
        by=by,
        k=k,
        rows=table.rows,
        columns=table.cols,
        column_labels=col_labels,
        cells=[[table.published((i, j)) for j in range(c)] for i in range(r)],
        row_totals=[table.published((i, c)) for i in range(r)],
        column_totals=[table.published((r, j)) for j in range(c)],
        total=table.published((r, c)),
        counts=counts,
    )


def build_year(
    session: Session, year: int, taxonomy: Taxonomy, k: int, now: datetime | None = None
) -> dict[str, PublishedTable]:
    """Every published table of a year, suppressed together; keyed by dimension."""
    rows = ended_months(year, now or db.now(session))
    in_year = HelplineContact.period.in_(rows)
    contact_tables: dict[str, CountTable] = {}
    for by, (column, _list) in CONTACT_DIMENSIONS.items():
        counts = session.execute(
            select(HelplineContact.period, column, func.count())
            .where(in_year)
            .group_by(HelplineContact.period, column)
        ).all()
        contact_tables[by] = _grid(rows, _labels(by, taxonomy), [(p, c, n) for p, c, n in counts])
    suppress(contact_tables.values(), k)
    mentions = session.execute(
        select(HelplineContact.period, ContactCategory.category, func.count())
        .select_from(HelplineContact)
        .outerjoin(ContactCategory, ContactCategory.contact_id == HelplineContact.id)
        .where(in_year)
        .group_by(HelplineContact.period, ContactCategory.category)
    ).all()
    category = _grid(rows, _labels("category", taxonomy), [(p, c, n) for p, c, n in mentions])
    suppress([category], k)
    out = {
        by: _publish(year, by, k, tb, _labels(by, taxonomy), "contacts")
        for by, tb in contact_tables.items()
    }
    out["category"] = _publish(
        year, "category", k, category, _labels("category", taxonomy), "category mentions"
    )
    out["resource"] = _resource_table(session, year, rows, k)
    return out


def _resource_table(session: Session, year: int, rows: list[str], k: int) -> PublishedTable:
    """Referrals to directory resources per month (mentions), suppressed on their own."""
    labels = {
        r.code: r.name
        for r in session.execute(select(HelplineResource).order_by(HelplineResource.code)).scalars()
    }
    counts = session.execute(
        select(HelplineContact.period, HelplineResource.code, func.count())
        .select_from(ContactResource)
        .join(HelplineContact, HelplineContact.id == ContactResource.contact_id)
        .join(HelplineResource, HelplineResource.id == ContactResource.resource_id)
        .where(HelplineContact.period.in_(rows))
        .group_by(HelplineContact.period, HelplineResource.code)
    ).all()
    table = _grid(rows, labels, [(p, c, n) for p, c, n in counts])
    suppress([table], k)
    return _publish(year, "resource", k, table, labels, "resource referrals")


def annual_export(
    session: Session, year: int, taxonomy: Taxonomy, k: int, now: datetime | None = None
) -> dict[str, Any]:
    """The year's counts in a network's annual shape (see the module docstring)."""
    tables = build_year(session, year, taxonomy, k, now)
    any_table = tables["contact_type"]
    out: dict[str, Any] = {
        "format": "openhotline.helpline.annual/1",
        "year": year,
        "months": any_table.rows,
        "suppression": {
            "k": k,
            "null": "fewer than k, or hidden so that a small count cannot be derived",
        },
        "contacts_total": any_table.total,
    }
    for by, table in tables.items():
        out[f"by_{by}"] = dict(zip(table.columns, table.column_totals, strict=True))
    out["labels"] = {
        by: dict(zip(t.columns, t.column_labels, strict=True)) for by, t in tables.items()
    }
    return out

"""The annual export for an international hotline network (INHOPE-style), suppressed.

The figures are the ones such networks publish from their members' data: reports received,
content URLs assessed illegal by hosting country, how fast they were removed (within 3 days,
later, not yet), whether law enforcement received them, and per illegal item the apparent
age band, apparent sex, site type, commercial and disguised flags, and whether the material
was new or already known (matched a hash bank).

Protection against differencing: one export covers one calendar year, split into its four
quarters, so periods never overlap (re-exporting a year gives the same cells). Each table
is quarters x categories with its margins; tables counting the same unit (URLs, items)
share their quarter totals and grand total and are suppressed together as linked tables
(helpline/suppression.py: primary suppression under k, then complementary suppression until
no hidden cell is determined by the published cells, margins and linked tables).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.assessment.models import ItemReview
from openhotline.cases.models import Case
from openhotline.errors import InvalidError
from openhotline.helpline.suppression import CountTable, suppress
from openhotline.media.models import CaseItem, Item, ItemStatus
from openhotline.reporting.models import Report
from openhotline.stats.service import GRADING_FIELDS, UNKNOWN, grading_by_item
from openhotline.takedown.models import Referral, ReferralKind
from openhotline.trace.models import HostingTrace

FORMAT = "openhotline-network-annual/1"
QUARTERS = ["Q1", "Q2", "Q3", "Q4"]
THREE_DAYS = timedelta(days=3)
# unit -> the tables that count it (linked: same quarters, same quarter totals).
UNITS = {
    "reports": ("reports_by_source",),
    "illegal_urls": ("urls_by_hosting_country", "urls_by_removal", "urls_by_law_enforcement"),
    "illegal_items": (
        *(f"items_by_{name}" for name in GRADING_FIELDS),
        "items_by_novelty",
    ),
}


def _quarter(at: datetime, year: int) -> int | None:
    if at.year != year:
        return None
    return (at.month - 1) // 3


def _table(records: list[tuple[int, str]]) -> CountTable:
    cols = sorted({c for _q, c in records})
    cells = [[0] * len(cols) for _ in QUARTERS]
    for q, c in records:
        cells[q][cols.index(c)] += 1
    return CountTable(list(QUARTERS), cols, cells)


def raw_tables(session: Session, year: int) -> dict[str, dict[str, CountTable]]:
    """The unsuppressed tables of one year, grouped by unit."""
    tz = db.now(session).tzinfo
    start = datetime.combine(date(year, 1, 1), time(), tz)
    end = datetime.combine(date(year + 1, 1, 1), time(), tz)
    reports = [
        (q, str(source))
        for at, source in session.execute(
            select(Report.created_at, Report.source).where(
                Report.created_at >= start, Report.created_at < end
            )
        ).all()
        if (q := _quarter(at, year)) is not None
    ]
    # Illegal content URLs: cases actioned in the year (counted in the quarter of action).
    cases = session.execute(
        select(Case.id, Case.actioned_at, Case.removed_at).where(
            Case.actioned_at >= start, Case.actioned_at < end
        )
    ).all()
    ids = [c.id for c in cases]
    country: dict[int, str] = {}
    police: set[int] = set()
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        latest = (
            select(func.max(HostingTrace.id))
            .where(HostingTrace.case_id.in_(chunk))
            .group_by(HostingTrace.case_id)
        )
        country.update(
            (cid, cc or UNKNOWN)
            for cid, cc in session.execute(
                select(HostingTrace.case_id, HostingTrace.country).where(
                    HostingTrace.id.in_(latest)
                )
            ).all()
        )
        police.update(
            session.execute(
                select(Referral.case_id).where(
                    Referral.case_id.in_(chunk), Referral.kind == ReferralKind.POLICE
                )
            ).scalars()
        )
    url_country, url_removal, url_police = [], [], []
    for cid, actioned_at, removed_at in cases:
        q = None if actioned_at is None else _quarter(actioned_at, year)
        if q is None or actioned_at is None:
            continue
        url_country.append((q, country.get(cid, UNKNOWN)))
        if removed_at is None:
            band = "not removed"
        elif removed_at - actioned_at <= THREE_DAYS:
            band = "within 3 days"
        else:
            band = "after 3 days"
        url_removal.append((q, band))
        url_police.append((q, "yes" if cid in police else "no"))
    # Illegal items: decided illegal, counted in the quarter the item was first stored.
    items = session.execute(
        select(Item.id, Item.created_at, Item.status)
        .join(ItemReview, ItemReview.item_id == Item.id)
        .where(
            ItemReview.illegal.is_(True),
            Item.created_at >= start,
            Item.created_at < end,
            Item.id.in_(select(CaseItem.item_id)),
        )
    ).all()
    fields = grading_by_item(session, [i.id for i in items])
    per_field: dict[str, list[tuple[int, str]]] = defaultdict(list)
    novelty: list[tuple[int, str]] = []
    for item_id, created_at, status in items:
        q = _quarter(created_at, year)
        if q is None:
            continue
        for name in GRADING_FIELDS:
            per_field[name].append((q, fields.get(item_id, {}).get(name, "not recorded")))
        novelty.append((q, "known" if status == ItemStatus.AUTO_ASSESSED else "new"))
    return {
        "reports": {"reports_by_source": _table(reports)},
        "illegal_urls": {
            "urls_by_hosting_country": _table(url_country),
            "urls_by_removal": _table(url_removal),
            "urls_by_law_enforcement": _table(url_police),
        },
        "illegal_items": {
            **{f"items_by_{n}": _table(per_field[n]) for n in GRADING_FIELDS},
            "items_by_novelty": _table(novelty),
        },
    }


def _grid(table: CountTable) -> list[list[int | None]]:
    return [
        [table.published((i, j)) for j in range(table.n_cols + 1)] for i in range(table.n_rows + 1)
    ]


def annual_export(session: Session, year: int, k: int, hotline: str) -> dict[str, Any]:
    """The suppressed annual export: every table as quarters x categories with margins."""
    if not 2000 <= year <= 9999:
        raise InvalidError("the year must be between 2000 and 9999")
    if year > db.now(session).year:
        raise InvalidError(f"{year} has not started yet")
    tables: dict[str, Any] = {}
    for unit, group in raw_tables(session, year).items():
        live = {n: t for n, t in group.items() if t.cols}
        if live:
            suppress(list(live.values()), k)
        for name, t in group.items():
            tables[name] = {
                "unit": unit,
                "rows": [*t.rows, "total"],
                "cols": [*t.cols, "total"],
                "cells": _grid(t) if t.cols else [[0] for _ in range(len(t.rows) + 1)],
            }
    return {
        "format": FORMAT,
        "hotline": hotline,
        "year": year,
        "suppression": {
            "k": k,
            "null": "fewer than k, or hidden so that no hidden count can be derived",
            "linked": {unit: list(names) for unit, names in UNITS.items()},
        },
        "tables": tables,
    }


def csv_rows(export: dict[str, Any]) -> list[list[Any]]:
    """One row per cell: year, table, unit, quarter, category, count (empty = suppressed)."""
    out: list[list[Any]] = [["year", "table", "unit", "quarter", "category", "count"]]
    for name, t in export["tables"].items():
        for i, r in enumerate(t["rows"]):
            for j, c in enumerate(t["cols"]):
                v = t["cells"][i][j]
                out.append([export["year"], name, t["unit"], r, c, "" if v is None else v])
    return out

"""Statistics over cases, reports, items, traces, notices, referrals and appeals.

A period is [start, end) in UTC; cases and reports count in the period they were received,
notices in the period they were sent. Every table that leaves the building goes through
`published`, which applies the helpline's small-count suppression (k, with secondary
suppression so that a hidden count cannot be derived from the margins).
Services never commit: the caller owns the transaction.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.assessment.models import Assessment, ItemReview
from openhotline.blocklist.models import Appeal
from openhotline.cases.models import Case
from openhotline.errors import InvalidError
from openhotline.helpline.suppression import CountTable, suppress
from openhotline.media.models import CaseItem, Item, ItemStatus
from openhotline.reporting.models import Report
from openhotline.takedown.models import NoticeSend, Referral
from openhotline.trace.models import HostingTrace

UNKNOWN = "unknown"
UNRECORDED = "not recorded"
# Grading fields of the classification schemes that the statistics count, per illegal item.
GRADING_FIELDS = ("age_band", "sex", "site_type", "commercial", "disguised")
WINDOWS = {"24h": 24 * 3600, "72h": 72 * 3600, "7d": 7 * 24 * 3600}
MAX_DAYS = 3660


@dataclass(frozen=True)
class Period:
    """A half-open interval of UTC time [start, end)."""

    start: datetime
    end: datetime

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.start - (self.end - self.start), self.start)

    def label(self) -> str:
        """'2026-01-01 to 2026-12-31' (end shown inclusive)."""
        last = self.end - timedelta(days=1)
        return f"{self.start.date().isoformat()} to {last.date().isoformat()}"


def parse_period(session: Session, start: str | None, end: str | None) -> Period:
    """Period from ISO dates (end inclusive); default: the 365 days up to today."""
    try:
        end_day = date.fromisoformat(end) if end else db.now(session).date()
        start_day = date.fromisoformat(start) if start else end_day - timedelta(days=364)
    except ValueError as exc:
        raise InvalidError("dates are YYYY-MM-DD") from exc
    if start_day > end_day:
        raise InvalidError("the start date is after the end date")
    if (end_day - start_day).days > MAX_DAYS:
        raise InvalidError(f"a period is at most {MAX_DAYS} days")
    tz = db.now(session).tzinfo
    return Period(
        datetime.combine(start_day, time(), tz),
        datetime.combine(end_day + timedelta(days=1), time(), tz),
    )


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1) of values, None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def timing(values: list[float]) -> dict[str, Any]:
    """Count, median and p90 (hours) and the share within 24 h, 72 h and 7 days."""
    n = len(values)
    out: dict[str, Any] = {"count": n}
    med, p90 = percentile(values, 0.5), percentile(values, 0.9)
    out["median_hours"] = None if med is None else round(med / 3600, 2)
    out["p90_hours"] = None if p90 is None else round(p90 / 3600, 2)
    for name, limit in WINDOWS.items():
        out[f"within_{name}"] = None if n == 0 else round(sum(v <= limit for v in values) / n, 4)
    return out


def _seconds(later: datetime | None, earlier: datetime) -> float | None:
    return None if later is None else (later - earlier).total_seconds()


def _latest_traces(session: Session, case_ids: Select[Any]) -> dict[int, HostingTrace]:
    latest = (
        select(func.max(HostingTrace.id))
        .where(HostingTrace.case_id.in_(case_ids))
        .group_by(HostingTrace.case_id)
    )
    rows = session.execute(select(HostingTrace).where(HostingTrace.id.in_(latest))).scalars()
    return {t.case_id: t for t in rows}


def _field_value(value: Any) -> str:
    if value is None or value == "":
        return UNRECORDED
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def grading_by_item(session: Session, item_ids: list[int]) -> dict[int, dict[str, str]]:
    """Each illegal item's grading field values (GRADING_FIELDS, "not recorded" if absent).

    An item's values come from its latest grade that agrees with the decision (the same
    grade the police export and referrals carry).
    """
    latest: dict[int, str] = {}
    for start in range(0, len(item_ids), 500):
        chunk = item_ids[start : start + 500]
        rows = session.execute(
            select(Assessment.item_id, Assessment.fields)
            .join(ItemReview, ItemReview.item_id == Assessment.item_id)
            .where(
                Assessment.item_id.in_(chunk),
                ItemReview.illegal.is_(True),
                Assessment.classification == ItemReview.classification,
            )
            .order_by(Assessment.id)
        ).all()
        for item_id, fields in rows:
            latest[item_id] = fields
    out: dict[int, dict[str, str]] = {}
    for item_id, raw in latest.items():
        try:
            values = json.loads(raw or "{}")
        except json.JSONDecodeError:
            values = {}
        if not isinstance(values, dict):
            values = {}
        out[item_id] = {name: _field_value(values.get(name)) for name in GRADING_FIELDS}
    return out


def _grading(session: Session, item_ids: list[int]) -> dict[str, Counter[str]]:
    """Counts of each grading field's values over the items decided illegal."""
    out: dict[str, Counter[str]] = {name: Counter() for name in GRADING_FIELDS}
    for values in grading_by_item(session, item_ids).values():
        for name in GRADING_FIELDS:
            out[name][values[name]] += 1
    return out


def compute(session: Session, period: Period) -> dict[str, Any]:
    """Every figure of one period, unsuppressed (for staff; `published` for export)."""
    in_period = (Case.created_at >= period.start) & (Case.created_at < period.end)
    cases = list(session.execute(select(Case).where(in_period)).scalars())
    case_ids = select(Case.id).where(in_period)
    traces = _latest_traces(session, case_ids)
    first_send: dict[int, datetime] = dict(
        session.execute(
            select(NoticeSend.case_id, func.min(NoticeSend.sent_at))
            .where(NoticeSend.case_id.in_(case_ids))
            .group_by(NoticeSend.case_id)
        ).all()
    )
    reports = Counter(
        dict(
            session.execute(
                select(Report.source, func.count(Report.id))
                .where(Report.created_at >= period.start, Report.created_at < period.end)
                .group_by(Report.source)
            ).all()
        )
    )
    assessed = [c for c in cases if c.first_assessed_at is not None]
    actioned = [c for c in cases if c.actioned_at is not None]
    country = {c.id: (traces[c.id].country if c.id in traces else None) or UNKNOWN for c in cases}
    network = {c.id: (traces[c.id].as_org if c.id in traces else None) or UNKNOWN for c in cases}

    items = list(
        session.execute(
            select(Item.id, Item.status, ItemReview.classification)
            .join(CaseItem, CaseItem.item_id == Item.id)
            .outerjoin(ItemReview, ItemReview.item_id == Item.id)
            .where(CaseItem.case_id.in_(case_ids))
            .distinct()
        ).all()
    )
    grading = _grading(session, sorted({i for i, _s, _c in items}))
    actioned_hosts = Counter(c.host for c in actioned)
    repeat = {h: n for h, n in actioned_hosts.items() if n >= 2}
    known = sum(1 for _, status, _c in items if status == ItemStatus.AUTO_ASSESSED)
    new = sum(1 for _, status, _c in items if status == ItemStatus.ASSESSED)
    by_class = Counter(cls for _, _s, cls in items if cls)

    timings: dict[str, dict[str, list[float]]] = {"overall": defaultdict(list)}
    by_host: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    by_country: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for c in cases:
        measures = {
            "to_assessment": _seconds(c.first_assessed_at, c.created_at),
            "to_notice": _seconds(first_send.get(c.id), c.created_at),
            "to_removal": _seconds(c.removed_at, c.created_at),
        }
        for name, value in measures.items():
            if value is None:
                continue
            timings["overall"][name].append(value)
            by_host[c.host][name].append(value)
            by_country[country[c.id]][name].append(value)

    notices = session.execute(
        select(func.count(NoticeSend.id)).where(
            NoticeSend.sent_at >= period.start, NoticeSend.sent_at < period.end
        )
    ).scalar_one()
    referrals = Counter(
        (dest, str(status))
        for dest, status in session.execute(
            select(Referral.destination, Referral.status).where(
                Referral.created_at >= period.start, Referral.created_at < period.end
            )
        ).all()
    )
    appeals = Counter(
        str(s)
        for s in session.execute(
            select(Appeal.status).where(
                Appeal.created_at >= period.start, Appeal.created_at < period.end
            )
        ).scalars()
    )

    def measured(groups: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, Any]]:
        return {
            key: {
                name: timing(values[name]) for name in ("to_assessment", "to_notice", "to_removal")
            }
            for key, values in sorted(groups.items())
        }

    return {
        "period": {"start": period.start.date().isoformat(), "label": period.label()},
        "reports_by_source": dict(sorted(reports.items())),
        "reports": sum(reports.values()),
        "urls": len(cases),
        "assessed": len(assessed),
        "actionable": len(actioned),
        "actionable_share": round(len(actioned) / len(assessed), 4) if assessed else None,
        "by_country": dict(sorted(Counter(country.values()).items())),
        "by_network": dict(sorted(Counter(network.values()).items())),
        "items": len({i for i, _s, _c in items}),
        "items_by_classification": dict(sorted(by_class.items())),
        "items_known": known,
        "items_new": new,
        **{f"items_by_{name}": dict(sorted(grading[name].items())) for name in GRADING_FIELDS},
        "repeat_hosts": len(repeat),
        "repeat_host_urls": sum(repeat.values()),
        "notices_sent": notices,
        "timing": measured(timings)["overall"],
        "timing_by_host": measured(by_host),
        "timing_by_country": measured(by_country),
        "referrals": [
            {"destination": d, "status": s, "count": n} for (d, s), n in sorted(referrals.items())
        ],
        "appeals": dict(sorted(appeals.items())),
    }


def compare(session: Session, period: Period) -> dict[str, Any]:
    """This period's figures beside the previous period's."""
    return {"current": compute(session, period), "previous": compute(session, period.previous())}


# Count tables that leave the building, by name: (row label, column label) -> count.
COUNT_TABLES = (
    "reports_by_source",
    "by_country",
    "by_network",
    "items_by_classification",
    *(f"items_by_{name}" for name in GRADING_FIELDS),
    "appeals",
)


def _one_column(counts: dict[str, int]) -> CountTable:
    rows = list(counts)
    return CountTable(rows, ["count"], [[counts[r]] for r in rows])


def published(figures: dict[str, Any], k: int) -> dict[str, Any]:
    """Figures safe to export: small counts and whatever would reveal them are None.

    Each count table is suppressed with its total (the grand total is published as part of
    the table, so a hidden row cannot be derived by subtracting the others from it); timing
    rows of fewer than k cases are dropped whole, and referral rows of fewer than k hidden.
    """
    out = dict(figures)
    for name in COUNT_TABLES:
        counts: dict[str, int] = figures[name]
        if not counts:
            out[name] = {"rows": {}, "total": 0}
            continue
        table = suppress([_one_column(counts)], k)[0]
        out[name] = {
            "rows": {r: table.published((i, 0)) for i, r in enumerate(table.rows)},
            "total": table.published((table.n_rows, 1)),
        }
    for scalar in (
        "reports",
        "urls",
        "assessed",
        "actionable",
        "items",
        "items_known",
        "items_new",
        "notices_sent",
        "repeat_hosts",
        "repeat_host_urls",
    ):
        if 0 < figures[scalar] < k:
            out[scalar] = None
    if out["actionable"] is None or out["assessed"] is None:
        out["actionable_share"] = None
    for group in ("timing_by_host", "timing_by_country"):
        out[group] = {
            key: measures
            for key, measures in figures[group].items()
            if all(m["count"] == 0 or m["count"] >= k for m in measures.values())
            and any(m["count"] >= k for m in measures.values())
        }
    if figures["referrals"]:
        dests = sorted({r["destination"] for r in figures["referrals"]})
        statuses = sorted({r["status"] for r in figures["referrals"]})
        cells = [[0] * len(statuses) for _ in dests]
        for r in figures["referrals"]:
            cells[dests.index(r["destination"])][statuses.index(r["status"])] = r["count"]
        table = suppress([CountTable(dests, statuses, cells)], k)[0]
        out["referrals"] = [
            {"destination": d, "status": s, "count": table.published((i, j))}
            for i, d in enumerate(dests)
            for j, s in enumerate(statuses)
            if cells[i][j]
        ]
    out["suppression"] = {"k": k, "null": "fewer than k, or hidden so that it cannot be derived"}
    return out


def to_csv_rows(figures: dict[str, Any]) -> list[tuple[str, str, str, Any]]:
    """Flatten published figures to (table, row, column, value) rows for a CSV export."""
    rows: list[tuple[str, str, str, Any]] = []
    for key, value in figures.items():
        if key in ("period", "suppression"):
            continue
        if isinstance(value, dict) and "rows" in value:
            rows += [(key, r, "count", v) for r, v in value["rows"].items()]
            rows.append((key, "total", "count", value["total"]))
        elif key == "timing":
            rows += [(key, name, m, v) for name, ms in value.items() for m, v in ms.items()]
        elif key.startswith("timing_by_"):
            rows += [
                (key, f"{group}/{name}", m, v)
                for group, measures in value.items()
                for name, ms in measures.items()
                for m, v in ms.items()
            ]
        elif key == "referrals":
            rows += [(key, r["destination"], r["status"], r["count"]) for r in value]
        elif isinstance(value, dict):
            rows += [(key, r, "count", v) for r, v in value.items()]
        else:
            rows.append((key, "", "value", value))
    return rows

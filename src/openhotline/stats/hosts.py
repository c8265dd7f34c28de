"""Host accountability: how fast hosting providers and countries remove what they are sent.

For each notice case (a case whose first notice was sent in the period) the clock runs from
that first notice to the confirmed removal, since a host can only act once told. Per hosting
provider (the network of the case's latest hosting trace) and per hosting country: notices,
median and p90 hours to removal, the share removed within 24 h and 72 h, and the share still
online 7 days after the notice. A provider or country is named only with at least
`min_notices` notices; the others are published together as one row, and only when that row
itself rests on enough notices. Nothing here names a person or describes content.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openhotline.cases.models import Case
from openhotline.stats.service import UNKNOWN, Period, percentile
from openhotline.takedown.models import NoticeSend
from openhotline.trace.models import HostingTrace

WEEK = timedelta(days=7)
OTHERS = "all other providers"
OTHER_COUNTRIES = "all other countries"
COLUMNS = (
    "notices",
    "removed",
    "median_hours",
    "p90_hours",
    "within_24h",
    "within_72h",
    "online_after_7d",
)


@dataclass(frozen=True)
class Notified:
    """One case noticed in the period: where it was hosted, when told, when removed."""

    provider: str
    country: str
    noticed_at: datetime
    removed_at: datetime | None


def noticed_cases(session: Session, period: Period) -> list[Notified]:
    """Cases whose first notice was sent in the period, with provider and country."""
    first = (
        select(NoticeSend.case_id, func.min(NoticeSend.sent_at).label("at"))
        .group_by(NoticeSend.case_id)
        .subquery()
    )
    latest_trace = (
        select(func.max(HostingTrace.id)).group_by(HostingTrace.case_id).scalar_subquery()
    )
    rows = session.execute(
        select(first.c.at, Case.removed_at, HostingTrace.as_org, HostingTrace.country)
        .join(Case, Case.id == first.c.case_id)
        .outerjoin(
            HostingTrace,
            (HostingTrace.case_id == Case.id) & HostingTrace.id.in_(latest_trace),
        )
        .where(first.c.at >= period.start, first.c.at < period.end)
    ).all()
    return [
        Notified(org or UNKNOWN, country or UNKNOWN, at, removed)
        for at, removed, org, country in rows
    ]


def row(cases: list[Notified]) -> dict[str, Any]:
    """The published figures of one group of noticed cases."""
    n = len(cases)
    hours = [
        (c.removed_at - c.noticed_at).total_seconds() / 3600
        for c in cases
        if c.removed_at is not None
    ]
    # Removed before the notice (already gone when it was sent) counts as 0 hours.
    hours = [max(h, 0.0) for h in hours]
    med, p90 = percentile(hours, 0.5), percentile(hours, 0.9)

    def share(limit: float) -> float | None:
        return None if n == 0 else round(sum(h <= limit for h in hours) / n, 4)

    online = sum(1 for c in cases if c.removed_at is None or c.removed_at - c.noticed_at > WEEK)
    return {
        "notices": n,
        "removed": len(hours),
        "median_hours": None if med is None else round(med, 1),
        "p90_hours": None if p90 is None else round(p90, 1),
        "within_24h": share(24),
        "within_72h": share(72),
        "online_after_7d": None if n == 0 else round(online / n, 4),
    }


def _table(cases: list[Notified], key: str, min_notices: int, others: str) -> dict[str, Any]:
    groups: dict[str, list[Notified]] = defaultdict(list)
    for c in cases:
        groups[getattr(c, key)].append(c)
    named = {
        name: row(members)
        for name, members in groups.items()
        if len(members) >= min_notices and name != UNKNOWN
    }
    rest = [c for c in cases if getattr(c, key) not in named]
    rows = sorted(named.items(), key=lambda kv: (-kv[1]["notices"], kv[0]))
    out: dict[str, Any] = {"rows": [{"name": n, **r} for n, r in rows]}
    # The rest is one row, shown only when it rests on enough notices; with the total
    # published it can be worked out anyway, so then the total is withheld as well.
    rest_ok = len(rest) == 0 or len(rest) >= min_notices
    out["others"] = {"name": others, **row(rest)} if rest and rest_ok else None
    out["hidden_groups"] = len(groups) - len(named)
    out["total"] = {"name": "total", **row(cases)} if rest_ok else None
    return out


def accountability(session: Session, period: Period, min_notices: int) -> dict[str, Any]:
    """The host accountability tables of a period (providers and countries)."""
    if min_notices < 2:
        raise ValueError("min_notices must be at least 2")
    cases = noticed_cases(session, period)
    return {
        "period": {
            "start": period.start.date().isoformat(),
            "end": (period.end - timedelta(days=1)).date().isoformat(),
            "label": period.label(),
        },
        "min_notices": min_notices,
        "providers": _table(cases, "provider", min_notices, OTHERS),
        "countries": _table(cases, "country", min_notices, OTHER_COUNTRIES),
    }


def csv_rows(tables: dict[str, Any]) -> list[list[Any]]:
    """CSV rows (header first) of both tables: kind, name and the published columns."""
    out: list[list[Any]] = [["period", "table", "name", *COLUMNS]]
    for kind in ("providers", "countries"):
        t = tables[kind]
        for r in [*t["rows"], t["others"], t["total"]]:
            if r is not None:
                out.append([tables["period"]["label"], kind, r["name"], *(r[c] for c in COLUMNS)])
    return out

"""Takedown statistics from timestamps: time to notice, time to removal, notices per case,
per host and per country."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openhotline.cases.models import Case
from openhotline.takedown.models import Notice, NoticeSend
from openhotline.trace.models import HostingTrace


def _summary(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"count": 0, "median_seconds": None, "mean_seconds": None, "max_seconds": None}
    return {
        "count": len(values),
        "median_seconds": round(statistics.median(values), 3),
        "mean_seconds": round(statistics.fmean(values), 3),
        "max_seconds": round(max(values), 3),
    }


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return (later - earlier).total_seconds()


def takedown_stats(session: Session) -> dict[str, Any]:
    """Aggregate figures over every case that has been traced or noticed."""
    first_send = dict(
        session.execute(
            select(NoticeSend.case_id, func.min(NoticeSend.sent_at)).group_by(NoticeSend.case_id)
        ).all()
    )
    sends = dict(
        session.execute(
            select(NoticeSend.case_id, func.count(NoticeSend.id)).group_by(NoticeSend.case_id)
        ).all()
    )
    latest = (
        select(HostingTrace.case_id, func.max(HostingTrace.id).label("tid"))
        .group_by(HostingTrace.case_id)
        .subquery()
    )
    country = dict(
        session.execute(
            select(HostingTrace.case_id, HostingTrace.country).join(
                latest, latest.c.tid == HostingTrace.id
            )
        ).all()
    )
    noticed_cases = set(session.execute(select(Notice.case_id)).scalars())
    case_ids = set(country) | set(first_send) | noticed_cases
    cases = (
        session.execute(select(Case).where(Case.id.in_(sorted(case_ids)))).scalars().all()
        if case_ids
        else []
    )
    to_notice: list[float] = []
    to_removal: list[float] = []
    notice_to_removal: list[float] = []
    groups: dict[str, dict[str, dict[str, Any]]] = {"host": {}, "country": {}}
    per_group: dict[tuple[str, str], list[float]] = defaultdict(list)
    for case in cases:
        t_notice = _seconds(first_send.get(case.id), case.created_at)
        t_removed = _seconds(case.removed_at, case.created_at)
        t_after = _seconds(case.removed_at, first_send.get(case.id))
        if t_notice is not None:
            to_notice.append(t_notice)
        if t_removed is not None:
            to_removal.append(t_removed)
        if t_after is not None:
            notice_to_removal.append(t_after)
        for dim, key in (("host", case.host), ("country", country.get(case.id) or "??")):
            g = groups[dim].setdefault(
                key, {"cases": 0, "notices": 0, "removed": 0, "median_time_to_removal": None}
            )
            g["cases"] += 1
            g["notices"] += int(sends.get(case.id, 0))
            g["removed"] += int(case.removed_at is not None)
            if t_removed is not None:
                per_group[(dim, key)].append(t_removed)
    for (dim, key), values in per_group.items():
        groups[dim][key]["median_time_to_removal"] = round(statistics.median(values), 3)
    total_notices = sum(int(v) for v in sends.values())
    return {
        "cases": len(cases),
        "cases_removed": sum(1 for c in cases if c.removed_at is not None),
        "notices_sent": total_notices,
        "notices_per_case": round(total_notices / len(first_send), 3) if first_send else None,
        "time_to_notice": _summary(to_notice),
        "time_to_removal": _summary(to_removal),
        "notice_to_removal": _summary(notice_to_removal),
        "by_host": groups["host"],
        "by_country": groups["country"],
    }

"""JSON and CSV routes of the statistics (supervisors): suppressed figures for export."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from openhotline.accounts.deps import require
from openhotline.accounts.permissions import Permission
from openhotline.stats import service
from openhotline.web.deps import DbDep, SettingsDep

router = APIRouter(prefix="/api/v1", tags=["stats"])
Viewer = [Depends(require(Permission.STATS_VIEW))]


@router.get(
    "/stats",
    dependencies=Viewer,
    summary="Hotline statistics for a period and the one before it (small counts suppressed)",
)
def stats_json(
    db: DbDep,
    settings: SettingsDep,
    start: str | None = Query(default=None, max_length=10),
    end: str | None = Query(default=None, max_length=10),
) -> dict[str, Any]:
    """The current and previous period's published figures."""
    k = settings.helpline_suppression_k
    with db() as session:
        period = service.parse_period(session, start, end)
        both = service.compare(session, period)
    return {name: service.published(figures, k) for name, figures in both.items()}


@router.get(
    "/stats.csv",
    dependencies=Viewer,
    summary="The same figures as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def stats_csv(
    db: DbDep,
    settings: SettingsDep,
    start: str | None = Query(default=None, max_length=10),
    end: str | None = Query(default=None, max_length=10),
) -> Response:
    """One row per figure: period, table, row, column, value (empty = suppressed)."""
    k = settings.helpline_suppression_k
    with db() as session:
        period = service.parse_period(session, start, end)
        both = service.compare(session, period)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["period", "table", "row", "column", "value"])
    for name, figures in both.items():
        label = f"{name} ({figures['period']['label']})"
        for row in service.to_csv_rows(service.published(figures, k)):
            writer.writerow([label, *row[:3], "" if row[3] is None else row[3]])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="openhotline-stats.csv"'},
    )


@router.get(
    "/stats/network/{year}",
    dependencies=Viewer,
    summary="The annual export for the hotline network (calendar year, suppressed)",
)
def network_json(
    db: DbDep,
    settings: SettingsDep,
    year: int = Path(ge=2000, le=9999),
    hotline: str = Query(default="openhotline", max_length=100),
) -> dict[str, Any]:
    """Quarters x categories per table, linked tables suppressed together (see network.py)."""
    from openhotline.stats import network

    with db() as session:
        return network.annual_export(session, year, settings.helpline_suppression_k, hotline)

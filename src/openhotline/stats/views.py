"""Public host accountability page (opt-in): removal times per provider and country."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from openhotline.errors import NotFoundError
from openhotline.stats import hosts, service
from openhotline.web.deps import DbDep, SettingsDep
from openhotline.web.templating import templates

router = APIRouter(include_in_schema=False)
Day = Annotated[str | None, Query(max_length=10)]


def min_notices(settings: SettingsDep) -> int:
    """The fewest notices a named provider needs: the setting, never below the helpline's k."""
    return max(settings.stats_host_page_min_notices, settings.helpline_suppression_k)


def _tables(db: DbDep, settings: SettingsDep, start: str | None, end: str | None) -> dict[str, Any]:
    if not settings.stats_host_page_enabled:
        raise NotFoundError("this hotline does not publish host statistics")
    with db() as session:
        period = service.parse_period(session, start or None, end or None)
        return hosts.accountability(session, period, min_notices(settings))


@router.get("/transparency/hosts", response_class=HTMLResponse)
def host_page(
    request: Request, db: DbDep, settings: SettingsDep, start: Day = None, end: Day = None
) -> Response:
    """Removal times per hosting provider and country (providers with few notices hidden)."""
    tables = _tables(db, settings, start, end)
    return templates.TemplateResponse(request, "transparency/hosts.html", {"tables": tables})


@router.get("/transparency/hosts.csv")
def host_csv(db: DbDep, settings: SettingsDep, start: Day = None, end: Day = None) -> Response:
    """The same figures as CSV."""
    tables = _tables(db, settings, start, end)
    out = io.StringIO()
    csv.writer(out).writerows(hosts.csv_rows(tables))
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="host-removal-times.csv"'},
    )

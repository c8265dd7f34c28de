"""Console page: hotline statistics for a period beside the previous one, with SVG charts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.console.pages import render
from openhotline.errors import InvalidError
from openhotline.helpline.charts import bar_chart
from openhotline.stats import service
from openhotline.web.deps import DbDep, SettingsDep

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Principal, Depends(require(Permission.STATS_VIEW))]

# Headline rows of the comparison table: (figure, readable label).
HEADLINES = (
    ("reports", "Reports received"),
    ("urls", "URLs (cases)"),
    ("assessed", "Assessed"),
    ("actionable", "Actionable"),
    ("items", "Items"),
    ("items_new", "New material"),
    ("items_known", "Known material (matched a bank)"),
    ("notices_sent", "Notices sent"),
    ("repeat_hosts", "Repeat hosts (2+ actioned URLs)"),
    ("repeat_host_urls", "Actioned URLs on repeat hosts"),
)
# Grading fields charted per illegal item: (figure, title).
FIELD_CHARTS = (
    ("items_by_age_band", "Illegal items by apparent age band"),
    ("items_by_sex", "Illegal items by apparent sex"),
    ("items_by_site_type", "Illegal items by site type"),
    ("items_by_commercial", "Illegal items: commercial"),
    ("items_by_disguised", "Illegal items: disguised website"),
)


def _chart(title: str, table: dict[str, Any]) -> str:
    rows = table["rows"]
    return bar_chart(title, list(rows), list(rows.values())) if rows else ""


@router.get("/console/stats", response_class=HTMLResponse)
def stats_page(
    request: Request,
    principal: Viewer,
    db: DbDep,
    settings: SettingsDep,
    start: Annotated[str | None, Query(max_length=10)] = None,
    end: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    """Suppressed figures (what may be shown outside) for a period and the previous one."""
    k = settings.helpline_suppression_k
    error = None
    with db() as session:
        try:
            period = service.parse_period(session, start or None, end or None)
        except InvalidError as exc:
            error = exc.message
            period = service.parse_period(session, None, None)
        both = service.compare(session, period)
    cur = service.published(both["current"], k)
    prev = service.published(both["previous"], k)
    charts = {
        "Reports by source": _chart("Reports by source", cur["reports_by_source"]),
        "URLs by hosting country": _chart("URLs by hosting country", cur["by_country"]),
        "Items by classification": _chart(
            "Items by classification", cur["items_by_classification"]
        ),
        "Appeals by outcome": _chart("Appeals by outcome", cur["appeals"]),
        **{title: _chart(title, cur[key]) for key, title in FIELD_CHARTS},
    }
    return render(
        request,
        "console/stats.html",
        principal,
        400 if error else 200,
        flash=error,
        cur=cur,
        prev=prev,
        headlines=HEADLINES,
        charts={title: svg for title, svg in charts.items() if svg},
        start=period.start.date().isoformat(),
        end_iso=cur["period"]["label"].split(" to ")[1],
        k=k,
    )

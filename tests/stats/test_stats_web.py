"""Statistics over HTTP: JSON and CSV export and the console page, for supervisors only."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from openhotline.reporting.schemas import ReportIn
from openhotline.reporting.service import submit_report
from tests.console.browser import (  # noqa: F401 - fixtures
    Analyst,
    LiveServer,
    browser,
    live_server,
)
from tests.console_fixtures import Staff, login


def _seed(session_factory: sessionmaker[Session]) -> None:
    """Twelve public reports and two from a partner (under k = 5: suppressed)."""
    with session_factory.begin() as s:
        for i in range(12):
            submit_report(s, ReportIn(urls=[f"http://a.host.test/{i}"]))
        for i in range(2):
            submit_report(s, ReportIn(urls=[f"http://b.host.test/{i}"]), source="partner:x")
        # A partner-controlled label, drawn into a chart: must stay text.
        for i in range(5):
            submit_report(
                s,
                ReportIn(urls=[f"http://c.host.test/{i}"]),
                source='partner:"><svg onload=alert(1)><script>alert(2)</script>',
            )


def test_supervisor_exports_json_and_csv_others_are_refused(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
) -> None:
    _seed(session_factory)
    sup = new_client()
    login(sup, make_user("sue", "supervisor"))
    r = sup.get("/api/v1/stats")
    assert r.status_code == 200
    cur = r.json()["current"]
    rows = cur["reports_by_source"]["rows"]
    # 2 is under k, and would follow from the total less the others: one more is hidden.
    assert rows["partner:x"] is None and list(rows.values()).count(None) == 2
    assert cur["reports_by_source"]["total"] == 19
    assert cur["urls"] == 19 and cur["suppression"]["k"] == 5
    assert r.json()["previous"]["urls"] is None or r.json()["previous"]["urls"] == 0
    r = sup.get("/api/v1/stats.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["period", "table", "row", "column", "value"]
    assert any(row[1:] == ["reports_by_source", "partner:x", "count", ""] for row in rows)
    assert sup.get("/api/v1/stats?start=yesterday").status_code == 422
    page = sup.get("/console/stats")
    assert page.status_code == 200 and "<svg" in page.text and "Reports received" in page.text
    assert sup.get("/console/stats?start=2026-13-01").status_code == 400
    year = sup.get("/api/v1/stats/network/2026")
    assert year.status_code == 200 and year.json()["format"] == "openhotline-network-annual/1"
    reports = year.json()["tables"]["reports_by_source"]
    assert reports["rows"][-1] == "total" and reports["cols"][-1] == "total"
    assert sup.get("/api/v1/stats/network/1999").status_code == 422
    for role in ("analyst", "admin"):
        other = new_client()
        login(other, make_user(f"u-{role}", role))
        assert other.get("/api/v1/stats").status_code == 403
        assert other.get("/api/v1/stats.csv").status_code == 403
        assert other.get("/console/stats").status_code == 403
        assert other.get("/api/v1/stats/network/2026").status_code == 403


@pytest.mark.browser
def test_statistics_page_in_a_browser(
    browser: Any,  # noqa: F811
    live_server: LiveServer,  # noqa: F811
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
) -> None:
    _seed(session_factory)
    sup = Analyst(browser, live_server, make_user("sue", "supervisor"))
    sup.login()
    sup.page.click("nav >> text=Statistics")
    sup.page.wait_for_url("**/console/stats")
    assert "Statistics" in sup.page.inner_text("h1")
    assert "19" in sup.page.locator("#headlines").inner_text()
    labels = sup.page.locator("svg.chart text").all_text_contents()
    assert "public" in labels and "suppressed" in labels
    # The hostile partner name is a label, not markup: only our charts' SVG, nothing active.
    assert any("<script>" in label for label in labels)
    assert sup.page.locator("svg").count() == sup.page.locator("div.chart").count()
    assert sup.page.locator("script, [onload], [onerror]").count() == 0
    assert sup.dialogs == []
    sup.close()
    ann = Analyst(browser, live_server, make_user("ann", "analyst"))
    ann.login()
    assert "Statistics" not in ann.page.inner_text("nav")
    response = ann.page.goto("/console/stats")
    assert response is not None and response.status == 403
    ann.close()

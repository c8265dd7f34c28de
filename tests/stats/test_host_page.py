"""The public host accountability page: opt-in, small providers hidden, static export."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from openhotline.app import create_app
from openhotline.cases.models import Case, CaseStatus
from openhotline.cli import app as cli_app
from openhotline.config import Settings, get_settings
from openhotline.reporting.models import Report, ReportURL
from openhotline.reporting.schemas import ReportIn
from openhotline.reporting.service import submit_report
from openhotline.takedown.models import Notice
from openhotline.takedown.routing import RoutingRules
from openhotline.takedown.service import SendRecord, mark_removed, record_send, route_case
from openhotline.trace.service import TraceResult, store_trace
from tests.case_support import walk_to
from tests.console.browser import browser, live_server  # noqa: F401 - fixtures

RULES = RoutingRules(own_countries=frozenset({"GB"}))
# provider -> (country, notices): BigNet is named (>= 5), SmallNet is not (2 < 5).
PROVIDERS = {"BigNet": ("NL", 7), "SmallNet": ("FR", 2)}


@pytest.fixture
def console_settings(settings: Settings) -> Settings:
    """The public page switched on, k = 5 and at least 5 notices to be named."""
    return settings.model_copy(
        update={
            "session_cookie_secure": False,
            "stats_host_page_enabled": True,
            "stats_host_page_min_notices": 5,
        }
    )


def _seed(session_factory: sessionmaker[Session]) -> None:
    """Cases noticed through the services; BigNet removes most, SmallNet nothing."""
    with session_factory.begin() as s:
        for provider, (country, n) in PROVIDERS.items():
            for i in range(n):
                host = f"{provider.lower()}.test"
                receipt = submit_report(s, ReportIn(urls=[f"http://{host}/{i}"]))
                cid = s.execute(
                    select(ReportURL.case_id)
                    .join(Report, Report.id == ReportURL.report_id)
                    .where(Report.receipt == receipt)
                ).scalar_one()
                case = s.get(Case, cid)
                assert case is not None
                walk_to(s, case, CaseStatus.ASSESSED)
                trace = store_trace(
                    s,
                    cid,
                    TraceResult(
                        host=host, country=country, as_org=provider, abuse_email="a@x.test"
                    ),
                )
                route_case(s, case, trace, RULES, {})
                notice = s.execute(select(Notice).where(Notice.case_id == cid)).scalar_one()
                record_send(s, SendRecord(notice.id, [], 0, f"<m{cid}@t>"), 24)
                if provider == "BigNet" and i < 5:
                    mark_removed(s, case, "gone")


def test_page_is_opt_in_and_hides_small_providers(
    console_settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    _seed(session_factory)
    with TestClient(
        create_app(console_settings.model_copy(update={"stats_host_page_enabled": False}))
    ) as off:
        assert off.get("/transparency/hosts").status_code == 404
    with TestClient(create_app(console_settings)) as c:
        page = c.get("/transparency/hosts")
        assert page.status_code == 200
        assert "BigNet" in page.text and "SmallNet" not in page.text
        assert "not a rating" in page.text  # the methodology note
        csv_text = c.get("/transparency/hosts.csv").text
        assert "BigNet" in csv_text and "SmallNet" not in csv_text
        assert c.get("/transparency/hosts?start=soon").status_code in (400, 422)
    env = {
        "OPENHOTLINE_DATABASE_URL": console_settings.resolved_database_url(),
        "OPENHOTLINE_STATS_HOST_PAGE_MIN_NOTICES": "5",
    }
    out = CliRunner().invoke(
        cli_app, ["stats", "host-page", "--out", str(tmp_path / "site")], env=env
    )
    assert out.exit_code == 0, out.output
    html = (tmp_path / "site" / "index.html").read_text()
    assert "BigNet" in html and "SmallNet" not in html and "<style>" in html
    assert "/static/" not in html  # self-contained
    assert "SmallNet" not in (tmp_path / "site" / "hosts.csv").read_text()


@pytest.mark.browser
def test_public_page_in_a_browser(
    browser: Any,  # noqa: F811
    live_server: Any,  # noqa: F811
    session_factory: sessionmaker[Session],
) -> None:
    _seed(session_factory)
    page = browser.new_page()
    try:
        response = page.goto(f"{live_server.base}/transparency/hosts")
        assert response is not None and response.status == 200
        named = page.locator("#providers tr.named th").all_text_contents()
        assert named == ["BigNet"]
        assert "SmallNet" not in page.inner_text("main")
        # 2 other notices are under 5: no "all others" row, and no total to subtract from.
        assert page.locator("#providers tr.others, #providers tr.total").count() == 0
        assert page.locator("#methodology li").count() == 4
        assert page.locator("html").get_attribute("lang") == "en"
    finally:
        page.close()


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()

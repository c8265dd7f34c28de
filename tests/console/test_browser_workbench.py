"""The workbench pages in a real browser, for each role that may see them and those refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from openhotline.cases.models import CaseStatus
from openhotline.takedown.models import NoticeStatus
from tests.console.browser import (  # noqa: F401 - fixtures
    Analyst,
    LiveServer,
    browser,
    live_server,
)
from tests.console.test_workbench_cases import traced
from tests.console_fixtures import Items, Staff

pytestmark = pytest.mark.browser

HOTLINE_CASE_ROLES = ("analyst", "supervisor")
REFUSED_CASE_ROLES = ("admin", "counsellor", "helpline_supervisor")


def _refused(user: Analyst, path: str) -> None:
    response = user.page.goto(path)
    assert response is not None and response.status == 403, path
    assert "your role may not" in user.page.inner_text("main")


def test_case_list_search_and_case_page_per_role(
    browser: Any,  # noqa: F811
    live_server: LiveServer,  # noqa: F811
    make_user: Callable[..., Staff],
    items: Items,
    session_factory: sessionmaker[Session],
) -> None:
    case_id = items.case("http://shop.example.test/gallery")
    other = items.case("http://elsewhere.test/x")
    notice_id = traced(
        session_factory, case_id, status=CaseStatus.ACTIONED, notice=NoticeStatus.QUEUED
    )
    for role in HOTLINE_CASE_ROLES:
        user = Analyst(browser, live_server, make_user(f"w-{role}", role))
        user.login()
        page = user.page
        page.click("#nav-cases")
        page.wait_for_url("**/console/cases")
        assert page.locator(f'tr[data-case="{other}"]').count() == 1
        page.fill("#f-domain", "example.test")
        page.select_option("#f-status", "actioned")
        page.click("#search")
        page.wait_for_url("**/console/cases?*domain=example.test*")
        assert page.locator("#cases tbody tr").count() == 1
        assert page.locator(f'tr[data-case="{case_id}"]').count() == 1
        with page.expect_download() as download:
            page.click("#export-csv")
        assert download.value.suggested_filename == "cases.csv"
        page.click(f'tr[data-case="{case_id}"] a')
        page.wait_for_url(f"**/console/cases/{case_id}")
        assert "abuse@host.example" in page.inner_text("#traces")
        page.fill("#note", f"note by {role}")
        page.click("#add-note")
        page.wait_for_url("**msg=note_added")
        assert f"note by {role}" in page.inner_text("#timeline")
        if role == "supervisor":
            page.click(f"#notice-pause-{notice_id}")
            page.wait_for_url("**msg=notice_changed")
            assert page.inner_text(f'tr[data-notice="{notice_id}"] .notice-status') == "paused"
            page.fill("#removed-why", "checked by hand: 404")
            page.click("#mark-removed")
            page.wait_for_url("**msg=removed")
            assert page.inner_text("#case-status") == "removed"
        else:
            assert page.locator("#mark-removed").count() == 0
        assert user.dialogs == []
        user.close()
    for role in REFUSED_CASE_ROLES:
        user = Analyst(browser, live_server, make_user(f"r-{role}", role))
        user.login()
        assert user.page.locator("#nav-cases").count() == 0
        _refused(user, "/console/cases")
        _refused(user, f"/console/cases/{case_id}")
        user.close()

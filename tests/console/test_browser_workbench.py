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


def test_dashboard_for_each_role(
    browser: Any,  # noqa: F811
    live_server: LiveServer,  # noqa: F811
    make_user: Callable[..., Staff],
    items: Items,
    session_factory: sessionmaker[Session],
) -> None:
    held = items.case("http://held.test/a")
    traced(session_factory, held, status=CaseStatus.ACTIONED, notice=NoticeStatus.HELD)
    sections = {
        "analyst": ({"#dash-queue", "#dash-cases", "#dash-police"}, {"#dash-jobs"}),
        "supervisor": ({"#dash-queue", "#dash-cases", "#dash-jobs"}, set()),
        "admin": ({"#dash-jobs"}, {"#dash-queue", "#dash-cases"}),
        "counsellor": (set(), {"#dash-queue", "#dash-cases", "#dash-jobs"}),
        "helpline_supervisor": (set(), {"#dash-queue", "#dash-cases", "#dash-jobs"}),
    }
    for role, (shown, hidden) in sections.items():
        user = Analyst(browser, live_server, make_user(f"d-{role}", role))
        user.login()
        page = user.page
        assert page.locator("#worker-missing").count() == 1  # no worker runs in this test
        for sel in shown:
            assert page.locator(sel).count() == 1, (role, sel)
        for sel in hidden:
            assert page.locator(sel).count() == 0, (role, sel)
        if "#dash-police" in shown:
            page.click(f'#dash-police a[href="/console/cases/{held}"]')
            page.wait_for_url(f"**/console/cases/{held}")
            assert page.locator("#police-pending").count() == 1
        user.close()


def test_host_directory_and_jobs_per_role(
    browser: Any,  # noqa: F811
    live_server: LiveServer,  # noqa: F811
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
) -> None:
    from tests.console.test_workbench_ops import _failed_job

    job_id = _failed_job(session_factory)
    sue = Analyst(browser, live_server, make_user("h-sue", "supervisor"))
    sue.login()
    page = sue.page
    page.click("#nav-hosts")
    page.wait_for_url("**/console/hosts")
    page.fill("#h-name", "Example Hosting")
    page.fill("#h-asn", "AS64500")
    page.fill("#h-email", "abuse@hosting.example")
    page.click("#save-host")
    page.wait_for_url("**/console/hosts/*?msg=host_saved")
    assert page.inner_text("#host-name") == "Example Hosting"
    page.click("#nav-jobs")
    page.wait_for_url("**/console/jobs")
    page.click(f"#retry-{job_id}")
    page.wait_for_url("**msg=job_retried")
    sue.close()

    ana = Analyst(browser, live_server, make_user("h-ana", "analyst"))
    ana.login()
    ana.page.click("#nav-hosts")
    ana.page.wait_for_url("**/console/hosts")
    assert ana.page.locator('#hosts a:has-text("Example Hosting")').count() == 1
    assert ana.page.locator("#host-form").count() == 0
    assert ana.page.locator("#nav-jobs").count() == 0
    _refused(ana, "/console/jobs")
    ana.close()

    root = Analyst(browser, live_server, make_user("h-root", "admin"))
    root.login()
    root.page.click("#nav-jobs")
    root.page.wait_for_url("**/console/jobs")
    assert root.page.locator(f'tr[data-job="{job_id}"]').count() == 0  # retried: pending now
    _refused(root, "/console/hosts")
    root.close()

    for role in ("counsellor", "helpline_supervisor"):
        user = Analyst(browser, live_server, make_user(f"h-{role}", role))
        user.login()
        _refused(user, "/console/hosts")
        _refused(user, "/console/jobs")
        user.close()


def test_admin_enrols_a_new_authenticator_with_a_qr_code(
    browser: Any,  # noqa: F811
    live_server: LiveServer,  # noqa: F811
    make_user: Callable[..., Staff],
) -> None:
    ana = make_user("q-ana")
    root = Analyst(browser, live_server, make_user("q-root", "admin"))
    root.login()
    page = root.page
    page.goto("/console/admin/users")
    fewest = page.eval_on_selector("#nu-role", "s => s.value")
    assert fewest not in ("admin", "supervisor")
    page.click(f"#reset-totp-{ana.id}")
    page.wait_for_selector("#totp-qr")
    # The QR code is drawn by the server and shown under the page's own CSP.
    assert page.evaluate("document.querySelector('#totp-qr').naturalWidth") > 0
    assert page.inner_text("#new-secret") != ana.totp_secret
    root.close()
    for role in ("analyst", "supervisor", "counsellor", "helpline_supervisor"):
        user = Analyst(browser, live_server, make_user(f"q-{role}", role))
        user.login()
        _refused(user, "/console/admin/users")
        user.close()

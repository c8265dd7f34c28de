"""URL-level decisions from the console (browser, each role) and the JSON API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from openhotline.cases.models import Case, CaseStatus
from tests.console.browser import (  # noqa: F401 - fixtures
    Analyst,
    LiveServer,
    browser,
    live_server,
)
from tests.console_fixtures import Items, Staff, login


def _status(factory: sessionmaker[Session], case_id: int) -> CaseStatus:
    with factory() as s:
        case = s.get(Case, case_id)
        assert case is not None
        return case.status


def _decide_in_browser(user: Analyst, case_id: int, code: str) -> str:
    page = user.page
    page.goto(f"/console/cases/{case_id}")
    page.click("#url-decision-link")
    page.wait_for_url(f"**/console/cases/{case_id}/url-decision")
    assert "baseline" not in page.inner_text("#url-state").lower()  # blind
    page.check(f"#class-{code}")
    page.click("#save-grade")
    page.wait_for_url(f"**/console/cases/{case_id}?msg=*")
    return str(page.inner_text("#flash"))


@pytest.mark.browser
def test_two_analysts_decide_a_url_in_the_browser(
    browser: Any,  # noqa: F811
    live_server: LiveServer,  # noqa: F811
    make_user: Callable[..., Staff],
    items: Items,
    session_factory: sessionmaker[Session],
) -> None:
    case_id = items.case("http://example.test/player")
    ana = Analyst(browser, live_server, make_user("ana"))
    sue = Analyst(browser, live_server, make_user("sue", "supervisor"))
    for user in (ana, sue):
        user.login()
    assert "Another analyst must confirm" in _decide_in_browser(ana, case_id, "baseline")
    assert _status(session_factory, case_id) == CaseStatus.NEW
    # The first analyst cannot confirm their own decision.
    ana.page.goto(f"/console/cases/{case_id}/url-decision")
    assert ana.page.locator("#save-grade").count() == 0
    assert ana.page.locator("#url-wait").count() == 1
    # A supervisor grades too (any role that assesses items may confirm).
    assert "The case is decided" in _decide_in_browser(sue, case_id, "baseline")
    assert _status(session_factory, case_id) == CaseStatus.ASSESSED
    sue.page.goto(f"/console/cases/{case_id}")
    assert sue.page.locator("#url-decision").count() == 0  # nothing left to decide
    assert sue.page.inner_text("#case-status") == "assessed"
    for user in (ana, sue):
        user.close()


@pytest.mark.browser
def test_a_url_dispute_is_settled_by_a_supervisor_in_the_browser(
    browser: Any,  # noqa: F811
    live_server: LiveServer,  # noqa: F811
    make_user: Callable[..., Staff],
    items: Items,
    session_factory: sessionmaker[Session],
) -> None:
    case_id = items.case("http://example.test/age-gate")
    ana = Analyst(browser, live_server, make_user("ana"))
    ben = Analyst(browser, live_server, make_user("ben"))
    sue = Analyst(browser, live_server, make_user("sue", "supervisor"))
    for user in (ana, ben, sue):
        user.login()
    _decide_in_browser(ana, case_id, "baseline")
    assert "supervisor will decide" in _decide_in_browser(ben, case_id, "not_illegal")
    page = sue.page
    page.goto(f"/console/cases/{case_id}/url-decision")
    assert "disagreed" in page.inner_text("#url-state")
    page.check("#class-baseline")
    page.click("#save-grade")
    page.wait_for_url(f"**/console/cases/{case_id}?msg=url_decided")
    assert _status(session_factory, case_id) == CaseStatus.ASSESSED
    for user in (ana, ben, sue):
        user.close()


@pytest.mark.parametrize("role", ["admin", "counsellor"])
def test_roles_that_do_not_assess_are_refused(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    items: Items,
    role: str,
) -> None:
    case_id = items.case("http://example.test/refused")
    client = new_client()
    csrf = login(client, make_user("someone", role))
    assert client.get(f"/console/cases/{case_id}/url-decision").status_code == 403
    posted = client.post(
        f"/console/cases/{case_id}/url-decision",
        data={"csrf_token": csrf, "classification": "baseline"},
        follow_redirects=False,
    )
    assert posted.status_code == 403
    api = client.post(
        f"/api/v1/cases/{case_id}/url-decision",
        json={"classification": "baseline"},
        headers={"X-CSRF-Token": csrf},
    )
    assert api.status_code == 403


def test_the_json_api_decides_blind_and_maps_errors(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    items: Items,
    session_factory: sessionmaker[Session],
) -> None:
    case_id = items.case("http://example.test/api")
    a, b = new_client(), new_client()
    csrf_a, csrf_b = login(a, make_user("ana")), login(b, make_user("ben"))
    url = f"/api/v1/cases/{case_id}/url-decision"
    first = a.post(url, json={"classification": "baseline"}, headers={"X-CSRF-Token": csrf_a})
    assert first.status_code == 200, first.text
    assert first.json() == {
        "case_id": case_id,
        "state": "confirming",
        "may_decide": False,
        "classification": None,
    }
    seen = b.get(url).json()
    assert seen["state"] == "confirming" and seen["classification"] is None and seen["may_decide"]
    again = a.post(url, json={"classification": "baseline"}, headers={"X-CSRF-Token": csrf_a})
    assert again.status_code == 409 and "already" in again.text
    bad = b.post(url, json={"classification": "nope"}, headers={"X-CSRF-Token": csrf_b})
    assert bad.status_code == 422 and "choose a classification" in bad.text
    missing = b.post(
        "/api/v1/cases/999999/url-decision",
        json={"classification": "baseline"},
        headers={"X-CSRF-Token": csrf_b},
    )
    assert missing.status_code == 404
    done = b.post(url, json={"classification": "baseline"}, headers={"X-CSRF-Token": csrf_b})
    assert done.json()["state"] == "decided" and done.json()["classification"] == "baseline"
    assert _status(session_factory, case_id) == CaseStatus.ASSESSED

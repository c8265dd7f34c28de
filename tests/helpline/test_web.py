"""Helpline console pages and JSON API through HTTP, with real logins, CSRF and database."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.app import create_app
from openhotline.audit.models import AuditEntry
from openhotline.config import Settings
from openhotline.db import transaction
from openhotline.helpline.models import HelplineContact
from openhotline.reporting.models import Report
from tests.console_fixtures import Staff, csrf_of, login
from tests.helpline.helpers import child_input, prevention_input, record, seed_year

FORM = {
    "mode": "child",
    "channel": "chat",
    "contact_type": "child_about_self",
    "categories": ["online_sexual_exploitation", "peer_relationships"],
    "age_band": "13-15",
    "gender": "",
    "region": "south",
    "outcome": "support_given",
    "notes": "synthetic web note",
}


@pytest.fixture
def counsellor(
    new_client: Callable[[], TestClient], make_user: Callable[..., Staff]
) -> tuple[TestClient, str]:
    client = new_client()
    return client, login(client, make_user("cora", "counsellor"))


@pytest.fixture
def supervisor(
    new_client: Callable[[], TestClient], make_user: Callable[..., Staff]
) -> tuple[TestClient, str]:
    client = new_client()
    return client, login(client, make_user("sam", "helpline_supervisor"))


def _record_form(client: TestClient, csrf: str, **overrides: object) -> int:
    form = {**FORM, "csrf_token": csrf, **overrides}
    r = client.post("/console/helpline/contacts", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    match = re.search(r"/contacts/(\d+)", r.headers["location"])
    assert match
    return int(match.group(1))


def test_counsellor_records_a_child_contact(
    counsellor: tuple[TestClient, str], session_factory: sessionmaker[Session]
) -> None:
    client, _csrf = counsellor
    page = client.get("/console/helpline/contacts/new?mode=child")
    assert page.status_code == 200
    assert "Identifying details (optional" in page.text and "Child helpline:" in page.text
    cid = _record_form(client, csrf_of(page.text), caller_name="Test Name 7")
    view = client.get(f"/console/helpline/contacts/{cid}")
    assert "synthetic web note" in view.text and "Test Name 7" in view.text
    with transaction(session_factory) as s:
        c = s.get(HelplineContact, cid)
        assert c is not None and c.gender is None and c.counsellor == "cora"
        assert c.identity_enc is not None and b"Test Name" not in c.identity_enc
        actions = [e.action for e in s.execute(select(AuditEntry)).scalars()]
        assert "helpline.contact.viewed" in actions


def test_prevention_form_has_no_identity_fields_and_refuses_them(
    counsellor: tuple[TestClient, str], session_factory: sessionmaker[Session]
) -> None:
    client, csrf = counsellor
    page = client.get("/console/helpline/contacts/new?mode=prevention")
    assert "we store no name" in page.text
    assert "caller_name" not in page.text and "caller_contact" not in page.text
    base = {
        **FORM,
        "mode": "prevention",
        "contact_type": "adult_about_own_behaviour",
        "categories": ["own_behaviour_concern"],
        "csrf_token": csrf,
    }
    for extra in ({"caller_name": "Test Name"}, {"phone": "000"}, {"caller_contact": "x"}):
        r = client.post("/console/helpline/contacts", data={**base, **extra})
        assert r.status_code == 400
        assert "unknown field" in r.text
    with transaction(session_factory) as s:
        assert s.execute(select(HelplineContact)).first() is None
    assert _record_form(client, csrf, **{k: v for k, v in base.items() if k != "csrf_token"})


def test_bad_form_input_is_listed_and_nothing_stored(
    counsellor: tuple[TestClient, str], session_factory: sessionmaker[Session]
) -> None:
    client, csrf = counsellor
    r = client.post(
        "/console/helpline/contacts",
        data={**FORM, "channel": "pigeon", "outcome": "", "csrf_token": csrf},
    )
    assert r.status_code == 400 and "channel: unknown code" in r.text
    assert 'value="synthetic web note"' in r.text or "synthetic web note" in r.text
    r = client.post("/console/helpline/contacts", data={**FORM, "mode": "x", "csrf_token": csrf})
    assert r.status_code == 400
    r = client.post("/console/helpline/contacts", data={**FORM, "csrf_token": "forged"})
    assert r.status_code == 403
    with transaction(session_factory) as s:
        assert s.execute(select(HelplineContact)).first() is None


def test_api_records_both_kinds_and_refuses_identity_in_prevention(
    counsellor: tuple[TestClient, str],
) -> None:
    client, csrf = counsellor
    h = {"X-CSRF-Token": csrf}
    r = client.post("/api/v1/helpline/contacts/child", json=child_input(caller_name="T"), headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["mode"] == "child" and not r.json()["escalated"]
    r = client.post("/api/v1/helpline/contacts/prevention", json=prevention_input(), headers=h)
    assert r.status_code == 201, r.text
    r = client.post(
        "/api/v1/helpline/contacts/prevention",
        json=prevention_input(caller_name="Test Name"),
        headers=h,
    )
    assert r.status_code == 422
    assert r.json()["detail"] == ["caller_name: unknown field"]
    r = client.post("/api/v1/helpline/contacts/child", json=child_input(channel="fax"), headers=h)
    assert r.status_code == 422 and r.json()["detail"] == ["channel: unknown code 'fax'"]
    r = client.post("/api/v1/helpline/contacts/child", content=b"[1]", headers=h)
    assert r.status_code == 400
    r = client.post("/api/v1/helpline/contacts/child", json=child_input())
    assert r.status_code == 403  # no CSRF header


def test_escalation_decision_and_handoff_flow(
    counsellor: tuple[TestClient, str],
    supervisor: tuple[TestClient, str],
    session_factory: sessionmaker[Session],
) -> None:
    client, csrf = counsellor
    cid = _record_form(client, csrf, immediate_risk="1")
    page = client.get(f"/console/helpline/contacts/{cid}")
    assert "Waiting for a supervisor" in page.text
    r = client.post(
        f"/console/helpline/contacts/{cid}/handoff",
        data={"urls": "https://example.test/a", "consent": "1", "csrf_token": csrf},
    )
    assert r.status_code == 409 and "safeguarding decision" in r.text
    assert client.get("/console/helpline/escalations").status_code == 403

    sup, sup_csrf = supervisor
    queue = sup.get("/console/helpline/escalations")
    esc_id = int(re.findall(r'id="esc-(\d+)"', queue.text)[0])
    r = sup.get(f"/console/helpline/escalations/{esc_id}/disclosure")
    assert r.status_code == 409
    r = sup.post(
        f"/console/helpline/escalations/{esc_id}/decide",
        data={"decision": "disclose", "disclose_to": "police", "csrf_token": sup_csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    sheet = sup.get(f"/console/helpline/escalations/{esc_id}/disclosure")
    assert sheet.status_code == 200 and "synthetic web note" in sheet.text
    assert "No escalations waiting" in sup.get("/console/helpline/escalations").text

    r = client.post(
        f"/console/helpline/contacts/{cid}/handoff",
        data={"urls": "https://example.test/a", "csrf_token": csrf},
    )
    assert r.status_code == 400 and "consent" in r.text
    r = client.post(
        f"/console/helpline/contacts/{cid}/handoff",
        data={
            "urls": "https://example.test/a\nhttps://example.test/b",
            "consent": "1",
            "csrf_token": csrf,
        },
    )
    assert r.status_code == 200 and "Hotline report made" in r.text
    receipt = re.search(r'id="receipt">([0-9A-Z-]+)<', r.text)
    assert receipt
    public = client.get("/report/status", params={"receipt": receipt.group(1)})
    assert public.status_code == 200 and "received" in public.text.lower()
    with transaction(session_factory) as s:
        report = s.execute(select(Report)).scalar_one()
        assert report.source == "helpline" and report.child_in_danger
        actions = [e.action for e in s.execute(select(AuditEntry)).scalars()]
        for a in ("helpline.escalation.raised", "helpline.escalation.decided", "helpline.handoff"):
            assert a in actions


def test_counsellors_see_only_their_own_contacts(
    counsellor: tuple[TestClient, str],
    supervisor: tuple[TestClient, str],
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
) -> None:
    client, csrf = counsellor
    cid = _record_form(client, csrf)
    other = new_client()
    other_csrf = login(other, make_user("cole", "counsellor"))
    assert other.get(f"/console/helpline/contacts/{cid}").status_code == 404
    r = other.post(f"/console/helpline/contacts/{cid}/escalate", data={"csrf_token": other_csrf})
    assert r.status_code == 404
    assert f"/console/helpline/contacts/{cid}" not in other.get("/console/helpline/").text
    sup, _ = supervisor
    assert sup.get(f"/console/helpline/contacts/{cid}").status_code == 200


def test_least_privilege_between_hotline_and_helpline(
    counsellor: tuple[TestClient, str],
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
) -> None:
    client, _ = counsellor
    for path in ("/console/queue", "/console/audit", "/console/helpline/trends"):
        r = client.get(path)
        assert r.status_code in (403, 404), path
    analyst = new_client()
    login(analyst, make_user("ana", "analyst"))
    for path in (
        "/console/helpline/",
        "/console/helpline/contacts/1",
        "/api/v1/helpline/trends?year=2025",
    ):
        r = analyst.get(path)
        assert r.status_code == 403, path


def test_trends_page_csv_json_and_annual(
    supervisor: tuple[TestClient, str], session_factory: sessionmaker[Session]
) -> None:
    with transaction(session_factory) as s:
        seed_year(s, 2025, 120)
        for _ in range(2):  # a rare combination that must not show
            record(s, child_input(channel="walk_in"), at=datetime(2025, 4, 3, tzinfo=UTC))
    sup, _ = supervisor
    page = sup.get("/console/helpline/trends", params={"year": 2025, "by": "channel"})
    assert page.status_code == 200
    assert page.text.count("<svg") == 2 and "suppressed" in page.text
    assert "<script" not in page.text
    table = sup.get("/api/v1/helpline/trends", params={"year": 2025, "by": "channel"}).json()
    assert table["total"] == 122 and table["k"] == 5
    cells = (
        [v for row in table["cells"] for v in row] + table["row_totals"] + table["column_totals"]
    )
    assert all(v is None or v == 0 or v >= 5 for v in cells)
    assert None in cells
    csv_r = sup.get("/api/v1/helpline/trends.csv", params={"year": 2025, "by": "channel"})
    assert csv_r.headers["content-type"].startswith("text/csv")
    assert csv_r.text.splitlines()[0].startswith("period,phone,sms")
    annual = sup.get("/api/v1/helpline/annual/2025").json()
    assert annual["contacts_total"] == 122
    assert set(annual) >= {"by_contact_type", "by_category", "by_age_band", "by_gender"}
    assert sup.get("/api/v1/helpline/trends", params={"year": 2025, "by": "x"}).status_code == 422
    assert sup.get("/api/v1/helpline/trends", params={"year": 1900}).status_code == 422
    assert sup.get("/api/v1/helpline/annual/2099").status_code == 422
    with transaction(session_factory) as s:
        actions = [e.action for e in s.execute(select(AuditEntry)).scalars()]
        assert "helpline.trends.exported" in actions and "helpline.annual.exported" in actions


@pytest.fixture
def app_with(console_settings: Settings) -> Iterator[Callable[[list[str]], TestClient]]:
    clients: list[TestClient] = []

    def _make(modules: list[str]) -> TestClient:
        c = TestClient(create_app(console_settings.model_copy(update={"modules": modules})))
        c.__enter__()
        clients.append(c)
        return c

    yield _make
    for c in clients:
        c.__exit__(None, None, None)


def test_modules_setting_decides_the_routers(app_with: Callable[[list[str]], TestClient]) -> None:
    helpline_only = app_with(["helpline"])
    assert helpline_only.get("/report").status_code == 404
    assert helpline_only.get("/console/helpline/", follow_redirects=False).status_code == 303
    hotline_only = app_with(["hotline"])
    assert hotline_only.get("/report").status_code == 200
    assert hotline_only.get("/console/helpline/", follow_redirects=False).status_code == 404

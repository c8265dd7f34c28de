"""Helpline cases through the JSON API: search, read, update, tasks, referrals, bad input."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.audit.models import AuditEntry
from openhotline.db import transaction
from tests.console_fixtures import Staff, login
from tests.helpline.helpers import child_input

API = "/api/v1/helpline"


@pytest.fixture
def cora(
    new_client: Callable[[], TestClient], make_user: Callable[..., Staff]
) -> tuple[TestClient, dict[str, str]]:
    client = new_client()
    csrf = login(client, make_user("cora", "counsellor"))
    return client, {"X-CSRF-Token": csrf}


def _case_with_contact(client: TestClient, h: dict[str, str], **overrides: object) -> int:
    r = client.post(f"{API}/contacts/child", json=child_input(**overrides), headers=h)
    assert r.status_code == 201, r.text
    contact_id = r.json()["id"]
    r = client.post(
        f"/console/helpline/contacts/{contact_id}/case",
        data={"csrf_token": h["X-CSRF-Token"]},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return int(r.headers["location"].split("/cases/")[1].split("?")[0])


def test_case_api_round_trip(
    cora: tuple[TestClient, dict[str, str]], session_factory: sessionmaker[Session]
) -> None:
    client, h = cora
    case_id = _case_with_contact(client, h, categories=["peer_relationships"])
    other = _case_with_contact(client, h, categories=["mental_health"])
    # Search by category and status finds only the right case.
    r = client.get(f"{API}/cases", params={"category": "peer_relationships"})
    assert r.status_code == 200, r.text
    assert [c["id"] for c in r.json()] == [case_id]
    assert {c["id"] for c in client.get(f"{API}/cases").json()} == {case_id, other}
    # Update: status, summary; the summary is returned but never written to the audit log.
    r = client.patch(
        f"{API}/cases/{case_id}",
        json={"status": "waiting", "summary": "synthetic summary 77"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "waiting" and r.json()["summary"] == "synthetic summary 77"
    assert [c["id"] for c in client.get(f"{API}/cases", params={"status": "waiting"}).json()] == [
        case_id
    ]
    # Tasks and referrals.
    r = client.post(
        f"{API}/cases/{case_id}/tasks",
        json={"title": "synthetic follow-up", "due": "2000-01-02"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["title"] == "synthetic follow-up" and task["overdue"] is True
    r = client.post(f"{API}/cases/{case_id}/tasks/{task['id']}/done", headers=h)
    assert r.status_code == 200 and r.json()["done_at"] is not None
    r = client.post(f"{API}/cases/{case_id}/referrals", json={"agency": "police"}, headers=h)
    assert r.status_code == 201 and r.json()["outcome"] == "pending"
    ref_id = r.json()["id"]
    r = client.patch(
        f"{API}/cases/{case_id}/referrals/{ref_id}", json={"outcome": "accepted"}, headers=h
    )
    assert r.status_code == 200 and r.json()["outcome"] == "accepted"
    # The whole case reads back; the read is audited.
    case = client.get(f"{API}/cases/{case_id}").json()
    assert case["contacts"] == 1 and len(case["contact_list"]) == 1
    assert case["contact_list"][0]["channel"] == "chat"
    assert case["open_tasks"] == 0 and case["referrals"][0]["agency"] == "police"
    with transaction(session_factory) as s:
        entries = s.execute(select(AuditEntry)).scalars().all()
        assert any(e.action == "helpline.case.viewed" for e in entries)
        assert not [e for e in entries if "synthetic summary 77" in json.dumps(e.details)]
        assert not [e for e in entries if "synthetic follow-up" in json.dumps(e.details)]


def test_case_api_refuses_bad_input_and_strangers(
    cora: tuple[TestClient, dict[str, str]],
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
) -> None:
    client, h = cora
    case_id = _case_with_contact(client, h)
    cases = f"{API}/cases"
    assert client.get(cases, params={"category": "nonsense"}).status_code == 422
    assert client.get(cases, params={"status": "lost"}).status_code == 422
    assert client.get(cases, params={"date_from": "yesterday"}).status_code == 422
    assert client.get(f"{cases}/999999").status_code == 404
    r = client.patch(f"{cases}/{case_id}", json={"status": "lost"}, headers=h)
    assert r.status_code == 422 and "status" in r.text
    r = client.patch(f"{cases}/{case_id}", json={"colour": "red"}, headers=h)
    assert r.status_code == 422
    r = client.post(f"{cases}/{case_id}/tasks", json={"title": ""}, headers=h)
    assert r.status_code == 422
    r = client.post(f"{cases}/{case_id}/referrals", json={"agency": "nobody"}, headers=h)
    assert r.status_code == 422 and "nobody" in r.text
    r = client.post(f"{cases}/{case_id}/tasks/999/done", headers=h)
    assert r.status_code == 404
    r = client.patch(f"{cases}/{case_id}/referrals/999", json={"outcome": "accepted"}, headers=h)
    assert r.status_code == 404
    # Writes without the session's CSRF header are refused.
    assert client.patch(f"{cases}/{case_id}", json={"status": "closed"}).status_code == 403
    # Nobody signed in: 401; an analyst (hotline side): 403.
    assert new_client().get(cases).status_code == 401
    analyst = new_client()
    login(analyst, make_user("ana", "analyst"))
    assert analyst.get(cases).status_code == 403

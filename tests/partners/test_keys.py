"""Partner keys: shown once, stored hashed, scoped, IP-limited, rotatable, revocable, audited."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.audit.models import AuditEntry
from openhotline.config import hash_api_key
from openhotline.partners import service
from openhotline.partners.models import ApiKey, Scope
from tests.console_fixtures import Staff, login


def _org_and_key(
    factory: sessionmaker[Session], scopes: list[str], ip: list[str] | None = None
) -> tuple[int, str]:
    with factory.begin() as s:
        org = service.create_org(s, "Example Filter Co", "filtering_provider", None, actor="t")
        key, token = service.create_key(s, org, scopes, actor="t", ip_allow=ip or [])
        return key.id, token


def test_key_is_stored_only_as_its_digest(session_factory: sessionmaker[Session]) -> None:
    key_id, token = _org_and_key(session_factory, ["urls.read"])
    with session_factory() as s:
        row = s.get(ApiKey, key_id)
        assert row is not None
        assert row.key_hash == hash_api_key(token) and token not in row.key_hash
        assert len(token) > 40 and row.prefix == token[:12]


@pytest.mark.parametrize(
    ("scopes", "ip", "message"),
    [
        ([], [], "at least one scope"),
        (["urls.write"], [], "unknown scope"),
        (["urls.read"], ["not-an-ip"], "not an IP address"),
    ],
)
def test_bad_key_requests_are_refused(
    session_factory: sessionmaker[Session], scopes: list[str], ip: list[str], message: str
) -> None:
    with session_factory.begin() as s:
        org = service.create_org(s, "Org", "platform", None, actor="t")
        with pytest.raises(service.PartnerError, match=message):
            service.create_key(s, org, scopes, actor="t", ip_allow=ip)


def test_bad_orgs_are_refused(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as s:
        with pytest.raises(service.PartnerError, match="kind must be"):
            service.create_org(s, "A", "bank", None, actor="t")
        with pytest.raises(service.PartnerError, match="two-letter"):
            service.create_org(s, "A", "hotline", "Germany", actor="t")
        service.create_org(s, "A", "hotline", "de", actor="t")
        with pytest.raises(service.PartnerError, match="exists"):
            service.create_org(s, "A", "police", None, actor="t")


def test_scopes_ip_allow_list_revoke_and_rotate(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    key_id, token = _org_and_key(session_factory, ["urls.read"], ip=["10.0.0.0/8"])
    auth = {"Authorization": f"Bearer {token}"}
    # TestClient connects from "testclient", which is no address in 10/8.
    r = client.get("/api/v1/lists/urls", headers=auth)
    assert r.status_code == 403 and "address" in r.json()["error"]
    with session_factory.begin() as s:
        s.get(ApiKey, key_id).ip_allow = ""  # type: ignore[union-attr]
    assert client.get("/api/v1/lists/urls", headers=auth).status_code == 200
    r = client.get("/api/v1/lists/hashes", headers=auth)
    assert r.status_code == 403 and "hashes.read" in r.json()["error"]
    r = client.post("/api/v1/reports/batch", json={"reports": []}, headers=auth)
    assert r.status_code == 403 and "reports.submit" in r.json()["error"]
    with session_factory.begin() as s:
        new, new_token = service.rotate_key(s, key_id, actor="t")
        assert new.scopes == Scope.READ_URL_LIST.value
    r = client.get("/api/v1/lists/urls", headers=auth)
    assert r.status_code == 401 and "revoked" in r.json()["error"]
    assert client.get("/api/v1/lists/urls", headers={"X-API-Key": new_token}).status_code == 200
    with session_factory() as s:
        actions = s.execute(select(AuditEntry.action)).scalars().all()
    assert {"partner.key.create", "partner.key.revoke"} <= set(actions)


def test_db_key_submits_reports_under_its_org_name(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    _key_id, token = _org_and_key(session_factory, ["reports.submit"])
    body = {"reports": [{"urls": ["http://example.test/a"], "external_id": "x-1"}]}
    r = client.post(
        "/api/v1/reports/batch", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200 and r.json()["accepted"] == 1


def test_admin_api_creates_orgs_and_keys(
    new_client: Callable[[], TestClient], make_user: Callable[..., Staff]
) -> None:
    admin = new_client()
    csrf = login(admin, make_user("boss", "admin"))
    h = {"X-CSRF-Token": csrf}
    r = admin.post(
        "/api/v1/admin/partners",
        json={"name": "Hotline B", "kind": "hotline", "country": "NL"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    org_id = r.json()["id"]
    r = admin.post(f"/api/v1/admin/partners/{org_id}/keys", json={"scopes": ["x"]}, headers=h)
    assert r.status_code == 422 and "unknown scope" in r.json()["error"]
    r = admin.post(
        f"/api/v1/admin/partners/{org_id}/keys", json={"scopes": ["referrals.receive"]}, headers=h
    )
    assert r.status_code == 201 and r.json()["key"].startswith("ohp_")
    listed = admin.get("/api/v1/admin/partners").json()
    assert listed[0]["keys"][0]["prefix"] == r.json()["prefix"]
    assert "key" not in listed[0]["keys"][0]
    key_id = r.json()["id"]
    assert admin.post(f"/api/v1/admin/partner-keys/{key_id}/revoke", headers=h).json()["revoked_at"]
    r = admin.post(f"/api/v1/admin/partner-keys/{key_id}/rotate", headers=h)
    assert r.status_code == 409
    analyst = new_client()
    login(analyst, make_user("ann", "analyst"))
    assert analyst.get("/api/v1/admin/partners").status_code == 403


def test_admin_page_creates_org_and_shows_key_once(
    new_client: Callable[[], TestClient], make_user: Callable[..., Staff]
) -> None:
    admin = new_client()
    csrf = login(admin, make_user("boss", "admin"))
    r = admin.post("/console/partners", data={"csrf_token": csrf, "name": "", "kind": "police"})
    assert r.status_code == 400 and "name must be" in r.text
    r = admin.post(
        "/console/partners",
        data={"csrf_token": csrf, "name": "Police X", "kind": "police", "country": "xx"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = admin.get("/console/partners").text
    assert "Police X" in page and 'id="new-key"' not in page
    r = admin.post("/console/partners/1/keys", data={"csrf_token": csrf, "scope": ["hashes.match"]})
    assert r.status_code == 200 and 'id="new-key-value">ohp_' in r.text
    assert 'id="new-key"' not in admin.get("/console/partners").text
    r = admin.post("/console/partners/1/keys", data={"csrf_token": csrf})
    assert r.status_code == 400 and "at least one scope" in r.text
    r = admin.post(
        "/console/partner-keys/1/revoke", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303 and "revoked" in admin.get("/console/partners").text

"""Console security: XSS payloads stay inert on every page, role escalation is refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.accounts.models import User
from openhotline.db import transaction
from openhotline.media.models import CaseItem
from tests.console_fixtures import Items, Staff, login

PAYLOADS = [
    "<script>alert('xss1')</script>",
    '"><img src=x onerror=alert("xss2")>',
    "'><svg onload=alert('xss3')>",
    "javascript:alert('xss4')",
    "{{7*7}}{% raw %}",
]
RAW_MARKERS = ["<script>alert", "<img src=x", "<svg onload", 'href="javascript:']


def seed_hostile_content(items: Items, factory: sessionmaker[Session]) -> dict[str, int]:
    """Reports, partner fields and crawled URLs full of XSS payloads (all text fields)."""
    payload = " ".join(PAYLOADS)
    case_id = items.case(
        "http://example.test/<script>alert('xss5')</script>?q=\"><img src=x onerror=alert(6)>",
        description=payload,
        found_where=payload,
        child_in_danger=True,
    )
    partner_case = items.case(
        "http://example.test/partner",
        description=payload,
        external_id=PAYLOADS[1][:200],
        source="partner:<b>evil</b>",
    )
    item_id = items.item(21, case_id, source='partner:"><script>alert(7)</script>')
    items.item(22, partner_case)
    with transaction(factory) as s:
        link = s.execute(select(CaseItem).where(CaseItem.item_id == item_id)).scalar_one()
        link.media_url = "http://example.test/" + PAYLOADS[1]
    return {"case": case_id, "partner_case": partner_case, "item": item_id}


def console_pages(ids: dict[str, int]) -> list[str]:
    """Every GET page of the console that can show reporter- or partner-controlled text."""
    return [
        "/console/",
        "/console/queue",
        f"/console/items/{ids['item']}",
        f"/console/cases/{ids['case']}",
        f"/console/cases/{ids['partner_case']}",
        "/console/supervisor/disputes",
        "/console/supervisor/exposure",
        "/console/admin/users",
        "/console/audit",
        "/console/audit?verify=1",
        "/console/account",
    ]


def test_xss_payloads_are_inert_on_every_page(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    items: Items,
    session_factory: sessionmaker[Session],
) -> None:
    ids = seed_hostile_content(items, session_factory)
    checked = 0
    for role in ("analyst", "supervisor", "admin"):
        client = new_client()
        csrf = login(client, make_user(f"x-{role}", role))
        if role == "analyst":
            client.post(f"/console/items/{ids['item']}/claim", data={"csrf_token": csrf})
        for url in console_pages(ids):
            response = client.get(url)
            if response.status_code == 403:
                continue
            assert response.status_code == 200, (role, url, response.status_code)
            html = response.text
            for marker in RAW_MARKERS:
                assert marker not in html, f"{marker!r} unescaped on {url} as {role}"
            checked += 1
    assert checked >= 15
    case_page = new_client()
    login(case_page, make_user("y-analyst"))
    html = case_page.get(f"/console/cases/{ids['case']}").text
    assert "&lt;script&gt;alert(&#39;xss1&#39;)&lt;/script&gt;" in html
    assert "{{7*7}}" in html and ">49<" not in html


def test_analyst_cannot_escalate(
    console_app: TestClient,
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
) -> None:
    ana = make_user("ana")
    admin = make_user("root-admin", "admin")
    csrf = login(console_app, ana)
    attempts = [
        ("/console/admin/users", {"username": "mallory", "role": "admin", "password": "x" * 16}),
        (f"/console/admin/users/{ana.id}/role", {"role": "admin"}),
        (f"/console/admin/users/{admin.id}/active", {"active": "0"}),
        ("/console/supervisor/disputes/1/resolve", {"classification": "not_illegal"}),
    ]
    for url, data in attempts:
        response = console_app.post(url, data={"csrf_token": csrf, **data})
        assert response.status_code == 403, url
        assert "your role may not" in response.text
    for url in ("/console/admin/users", "/console/audit", "/console/supervisor/exposure"):
        assert console_app.get(url).status_code == 403
    with session_factory() as s:
        users = {u.username: (u.role, u.active) for u in s.execute(select(User)).scalars()}
    assert users == {"ana": ("analyst", True), "root-admin": ("admin", True)}


@pytest.mark.parametrize("path", ["/console/items/1/preview", "/console/queue"])
def test_admin_sees_no_media_or_queue(
    console_app: TestClient, make_user: Callable[..., Staff], path: str
) -> None:
    login(console_app, make_user("adm", "admin"))
    assert console_app.get(path).status_code == 403


def test_role_change_ends_the_users_sessions(
    new_client: Callable[[], TestClient], make_user: Callable[..., Staff]
) -> None:
    ana = make_user("ana")
    boss = make_user("boss", "admin")
    a, b = new_client(), new_client()
    login(a, ana)
    csrf_b = login(b, boss)
    response = b.post(
        f"/console/admin/users/{ana.id}/role",
        data={"csrf_token": csrf_b, "role": "supervisor"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert a.get("/console/", follow_redirects=False).status_code == 303


def test_missing_csrf_refused_everywhere(
    console_app: TestClient, make_user: Callable[..., Staff], items: Items
) -> None:
    item_id = items.item(1, items.case("http://example.test/1"))
    login(console_app, make_user("ana"))
    for url in (
        f"/console/items/{item_id}/claim",
        f"/console/items/{item_id}/reveal",
        f"/console/items/{item_id}/assess",
        "/console/logout",
    ):
        response = console_app.post(url, data={"classification": "baseline"})
        assert response.status_code == 403 and "CSRF" in response.text, url
    # The header form works for scripts: X-CSRF-Token.
    assert "Welcome" in console_app.get("/console/").text


@pytest.mark.parametrize(
    "path", ["/console/items/99999999999999999999", "/console/cases/0", "/console/items/-1"]
)
def test_out_of_range_ids_are_a_clear_422(
    console_app: TestClient, make_user: Callable[..., Staff], path: str
) -> None:
    assert console_app.get(path, follow_redirects=False).status_code == 303  # log in first
    csrf = login(console_app, make_user("ana"))
    assert console_app.get(path).status_code == 422
    claim = console_app.post(path.replace("cases", "items") + "/claim", data={"csrf_token": csrf})
    assert claim.status_code == 422


def test_flash_accepts_only_known_codes(
    console_app: TestClient, make_user: Callable[..., Staff]
) -> None:
    """A crafted link cannot put its own wording on a console page."""
    login(console_app, make_user("ana"))
    assert "Grade saved." in console_app.get("/console/?msg=graded").text
    page = console_app.get("/console/?msg=Your+session+expired,+call+0800+000")
    assert "session expired" not in page.text and 'id="flash"' not in page.text

"""The public HTML form works without JavaScript (plain form posts)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.app import create_app
from openhotline.cases.models import Case
from openhotline.config import Settings
from openhotline.reporting.models import Report


def test_form_page_has_no_script_and_says_anonymous(client: TestClient) -> None:
    page = client.get("/report")
    assert page.status_code == 200
    html = page.text
    assert "<script" not in html
    assert "Do not send us images" in html
    assert "anonymous" in html
    for field in ("urls", "seen", "description", "found_where", "child_in_danger"):
        assert f'name="{field}"' in html
    assert 'name="contact_email"' in html and 'name="contact_consent"' in html


def test_form_post_gives_receipt_and_status_page(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    r = client.post(
        "/report",
        data={
            "urls": "http://example.test/x\r\nhttps://example.test/y\r\n",
            "seen": "images",
            "description": "in a gallery",
            "child_in_danger": "1",
        },
    )
    assert r.status_code == 200, r.text
    m = re.search(r'id="receipt">([0-9A-Z-]+)<', r.text)
    assert m, r.text
    receipt = m.group(1)
    status = client.get("/report/status", params={"receipt": receipt})
    assert 'id="status">received<' in status.text
    with session_factory() as s:
        report = s.execute(select(Report)).scalar_one()
        assert report.child_in_danger and report.seen == "images"
        assert {c.priority for c in s.execute(select(Case)).scalars()} == {100}


def test_form_errors_keep_what_was_typed(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    r = client.post("/report", data={"urls": "javascript:alert(1)", "description": "<b>kept</b>"})
    assert r.status_code == 400
    assert "only http and https" in r.text
    assert "&lt;b&gt;kept&lt;/b&gt;" in r.text  # echoed back, escaped
    r = client.post(
        "/report", data={"urls": "http://example.test/", "contact_email": "a@b.example"}
    )
    assert r.status_code == 400 and "consent" in r.text
    r = client.post("/report", data={"urls": ""})
    assert r.status_code == 400
    with session_factory() as s:
        assert s.execute(select(Report)).first() is None


def test_unknown_receipt_page(client: TestClient) -> None:
    r = client.get("/report/status", params={"receipt": "nope"})
    assert r.status_code == 404 and "No report has this receipt code" in r.text


def test_rate_limit_in_memory(settings: Settings) -> None:
    limited = settings.model_copy(update={"public_rate_per_minute": 60, "public_rate_burst": 3})
    with TestClient(create_app(limited)) as c:
        codes = [
            c.post("/api/v1/reports", json={"urls": ["http://example.test/"]}).status_code
            for _ in range(5)
        ]
    assert codes[:3] == [201, 201, 201]
    assert codes[3:] == [429, 429]


def test_security_headers(client: TestClient) -> None:
    h = client.get("/report").headers
    assert h["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in h["content-security-policy"]
    assert h["referrer-policy"] == "no-referrer"


def test_every_429_says_when_to_come_back(settings: Settings) -> None:
    # 6 a minute, burst 1: the next token is due in at most 10 s.
    limited = settings.model_copy(update={"public_rate_per_minute": 6, "public_rate_burst": 1})
    with TestClient(create_app(limited)) as c:
        assert c.post("/api/v1/reports", json={"urls": ["http://example.test/"]}).status_code == 201
        for method, path, kwargs in [
            ("POST", "/api/v1/reports", {"json": {"urls": ["http://example.test/"]}}),
            ("POST", "/report", {"data": {"urls": "http://example.test/"}}),
            ("GET", "/report/status", {"params": {"receipt": "x"}}),
        ]:
            r = c.request(method, path, **kwargs)
            assert r.status_code == 429, (path, r.text)
            assert 1 <= int(r.headers["Retry-After"]) <= 10, r.headers
            assert r.json()["error"].startswith("too many requests")

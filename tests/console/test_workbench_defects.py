"""Defects found while trying the console: each test failed before its fix."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.reporting.models import Report
from tests.console.browser import (  # noqa: F401 - fixtures
    Analyst,
    LiveServer,
    browser,
    live_server,
)
from tests.console_fixtures import Items, Staff, generated_image, login


def test_unknown_console_pages_answer_an_html_404(
    new_client: Callable[[], TestClient], make_user: Callable[..., Staff]
) -> None:
    client = new_client()
    login(client, make_user("ana"))
    page = client.get("/console/no-such-page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "There is no such page." in page.text and 'href="/console/"' in page.text
    wrong_method = client.delete("/console/queue")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"].startswith("text/html")
    # The API keeps its JSON error shape.
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.json()["error"] == "Not Found"


def test_closing_a_case_says_so(
    new_client: Callable[[], TestClient], make_user: Callable[..., Staff], items: Items
) -> None:
    case_id = items.case("http://empty.test/page")
    client = new_client()
    csrf = login(client, make_user("ana"))
    r = client.post(
        f"/console/cases/{case_id}/close",
        data={"csrf_token": csrf, "classification": "not_found"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert "Case closed." in page and "item is decided" not in page


def test_report_form_redirects_after_post_and_is_never_cached(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    form = client.get("/report")
    assert form.headers["cache-control"] == "no-store"
    r = client.post("/report", data={"urls": "http://example.test/a"}, follow_redirects=False)
    assert r.status_code == 303
    where = r.headers["location"]
    assert where.startswith("/report/thanks?receipt=")
    thanks = client.get(where)
    assert thanks.status_code == 200 and thanks.headers["cache-control"] == "no-store"
    assert re.search(r'id="receipt">[0-9A-Z-]+<', thanks.text)
    client.get(where)  # a refresh of the receipt page files nothing more
    with session_factory() as s:
        assert s.execute(select(func.count()).select_from(Report)).scalar_one() == 1
    # A made-up code is not echoed; the reader goes back to the form.
    bad = client.get("/report/thanks?receipt=<b>x</b>", follow_redirects=False)
    assert bad.status_code == 303 and bad.headers["location"] == "/report"


def _problems(html: str) -> str:
    start = html.index('class="errors"')
    return html[start : html.index("</div>", start)]


def test_report_form_speaks_plainly(client: TestClient) -> None:
    r = client.post(
        "/report",
        data={"urls": "http://example.test/\njavascript:alert(1)", "contact_email": "a@b.example"},
    )
    assert r.status_code == 400
    shown = _problems(r.text)
    assert "contact_consent" not in shown and "urls[" not in shown and "urls." not in shown
    r = client.post("/report", data={"urls": "http://ok.test/\nftp://example.test/x"})
    assert r.status_code == 400
    assert "Web address 2:" in _problems(r.text) and "urls[" not in r.text
    r = client.post(
        "/report", data={"urls": "http://example.test/", "contact_email": "a@b.example"}
    )
    assert "consent" in _problems(r.text) and "contact_consent" not in _problems(r.text)


@pytest.mark.browser
def test_previews_keep_their_aspect_ratio(
    browser: Any,  # noqa: F811
    live_server: LiveServer,  # noqa: F811
    make_user: Callable[..., Staff],
    items: Items,
) -> None:
    wide = io.BytesIO()
    generated_image(41, 400).resize((400, 100)).save(wide, format="PNG")
    item_id = items.item(41, items.case("http://wide.test/p"), data=wide.getvalue())
    ana = Analyst(browser, live_server, make_user("ana"))
    ana.login()
    ana.page.goto("/console/queue")
    ana.page.click(f"#claim-{item_id}")
    ana.page.wait_for_url(f"**/console/items/{item_id}?msg=claimed")
    ana.page.wait_for_function("document.querySelector('#preview').naturalWidth > 0")
    box = ana.page.locator("#preview").bounding_box()
    assert box is not None
    inner = (box["width"] - 2) / (box["height"] - 2)  # minus the 1px border
    assert 3.6 < inner < 4.4, box
    preview = ana.context.request.get(f"{live_server.base}/console/items/{item_id}/preview")
    width, height = Image.open(io.BytesIO(preview.body())).size
    assert width == 4 * height
    ana.close()

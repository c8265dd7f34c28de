"""/api/docs works under the app's own Content-Security-Policy: local assets, no inline script."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.console.browser import (  # noqa: F401 - fixtures
    LiveServer,
    browser,
    live_server,
)


def test_docs_page_uses_only_local_scripts(client: TestClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
    assert "cdn" not in page.text.lower() and "https://" not in page.text
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
        assert client.get(asset).status_code == 200, asset


@pytest.mark.browser
def test_docs_render_in_a_browser(
    browser: Any,  # noqa: F811
    live_server: LiveServer,  # noqa: F811
) -> None:
    context = browser.new_context(base_url=live_server.base)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    outside: list[str] = []
    page.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith(live_server.base) else None,
    )
    page.goto("/api/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
    assert "openhotline" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    assert "/api/v1/reports" in page.inner_text("#swagger-ui")
    assert not [p for p in problems if "Content Security Policy" in p], problems
    assert [u for u in outside if not u.startswith("data:")] == []
    context.close()

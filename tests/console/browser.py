"""Playwright helpers: Debian's chromium (never a downloaded browser) and a live server."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops

from tests.console_fixtures import Staff
from tests.serverproc import ServerProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> None:
    """Skip (with the reason) when Debian's chromium or the playwright package is missing."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(
            "browser tests need Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
        )
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (dev extra)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium for the module."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def live_server(db_url: str, console_settings: Any) -> Iterator[ServerProcess]:
    """`openhotline serve` on 127.0.0.1 (ephemeral port) over the test database and media."""
    data_dir: Path = console_settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    server = ServerProcess(
        db_url, data_dir, extra_env={"OPENHOTLINE_SESSION_COOKIE_SECURE": "false"}
    )
    server.start()
    yield server
    server.stop()


class Analyst:
    """One user in their own browser context (own cookies), recording any JS dialog."""

    def __init__(self, browser: Any, server: ServerProcess, staff: Staff) -> None:
        self.staff = staff
        self.base = server.base
        self.context = browser.new_context(base_url=server.base)
        self.page = self.context.new_page()
        self.dialogs: list[str] = []
        self.page.on("dialog", self._on_dialog)

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def login(self) -> None:
        """Log in through the form with password and a fresh TOTP code."""
        page = self.page
        page.goto("/console/login")
        page.fill("#username", self.staff.username)
        page.fill("#password", self.staff.password)
        page.fill("#code", self.staff.code())
        page.click("#login")
        page.wait_for_url("**/console/")
        assert f"Welcome, {self.staff.username}" in page.inner_text("h1")

    def preview_is_grey(self, item_id: int) -> bool:
        """Fetch the item's preview with this user's cookies; True when greyscale."""
        response = self.context.request.get(f"{self.base}/console/items/{item_id}/preview")
        assert response.status == 200, response.status
        r, g, b = Image.open(io.BytesIO(response.body())).convert("RGB").split()
        return all(ImageChops.difference(r, x).getextrema()[1] <= 3 for x in (g, b))

    def close(self) -> None:
        """Close the context."""
        self.context.close()

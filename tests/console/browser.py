"""Playwright helpers: Debian's chromium (never a downloaded browser) and a live server."""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from PIL import Image, ImageChops

from tests.console_fixtures import Staff
from tests.serverproc import free_port

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


@dataclass
class LiveServer:
    """The app served by uvicorn on 127.0.0.1 at an ephemeral port."""

    base: str


@pytest.fixture
def live_server(console_settings: Any) -> Iterator[LiveServer]:
    """uvicorn in a thread on 127.0.0.1 (ephemeral port) over the test database and media."""
    import uvicorn

    from openhotline.app import create_app

    port = free_port()
    config = uvicorn.Config(
        create_app(console_settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    yield LiveServer(f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(timeout=15)


class Analyst:
    """One user in their own browser context (own cookies), recording any JS dialog."""

    def __init__(self, browser: Any, server: LiveServer, staff: Staff) -> None:
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

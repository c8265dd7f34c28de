"""Browser test: a counsellor records both kinds of contact, escalates, hands off; a
supervisor decides and reads the suppressed trends. Debian's chromium, never a download."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from openhotline.config import Settings
from openhotline.db import transaction
from openhotline.helpline import resources
from tests.console_fixtures import Staff
from tests.helpline.helpers import TAXONOMY, seed_year
from tests.serverproc import ServerProcess

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium (skips cleanly when chromium or playwright is missing)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("browser tests need Debian's chromium at /usr/bin/chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def server(db_url: str, console_settings: Settings) -> Iterator[ServerProcess]:
    """`openhotline serve` on 127.0.0.1 with an ephemeral port over the test database."""
    data_dir: Path = console_settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = ServerProcess(db_url, data_dir, {"OPENHOTLINE_SESSION_COOKIE_SECURE": "false"})
    proc.start()
    yield proc
    proc.stop()


def _login(browser: Any, server: ServerProcess, staff: Staff) -> Any:
    context = browser.new_context(base_url=server.base)
    page = context.new_page()
    page.goto("/console/login")
    page.fill("#username", staff.username)
    page.fill("#password", staff.password)
    page.fill("#code", staff.code())
    page.click("#login")
    page.wait_for_url("**/console/")
    return page


def test_counsellor_and_supervisor_in_the_browser(
    browser: Any,
    server: ServerProcess,
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as s:
        seed_year(s, 2025, 120)
        for code, name in (("teen-line", "Teen support line"), ("legal-aid", "Legal aid desk")):
            data = resources.ResourceIn(code=code, name=name, category="mental_health")
            resources.add_resource(s, data, taxonomy=TAXONOMY, actor="user:test")
    page = _login(browser, server, make_user("cora", "counsellor"))
    page.click("#go-helpline")
    page.click("#new-child")
    assert "Identifying details" in page.content()

    started = time.monotonic()
    page.check("input[name=channel][value=chat]")
    page.select_option("#contact_type", "child_about_self")
    page.check("input[name=categories][value=online_sexual_exploitation]")
    page.check("input[name=categories][value=peer_relationships]")
    page.select_option("#age_band", "13-15")
    page.select_option("#region", "south")
    page.select_option("#outcome", "support_given")
    page.fill("#notes", "synthetic browser note")
    page.select_option(
        "#resources",
        label=[  # a plain multi-select: no JavaScript needed
            "Teen support line (whole country)",
            "Legal aid desk (whole country)",
        ],
    )
    page.click("#record")
    page.wait_for_url(re.compile(r".*/console/helpline/contacts/\d+.*"))
    TIMINGS["child_contact_s"] = time.monotonic() - started
    assert "Contact recorded" in page.inner_text("#flash")
    assert page.inner_text("#referred-resources") == "Legal aid desk; Teen support line"
    child_url = page.url.split("?")[0]

    # Warm hand-off with consent: the caller gets a receipt code.
    page.fill("#urls", "https://example.test/remove-me")
    page.check("#consent")
    page.click("#handoff")
    receipt = page.inner_text("#receipt")
    assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){4}", receipt)

    # A prevention contact: no identifying fields; immediate risk escalates it.
    page.goto("/console/helpline/contacts/new?mode=prevention")
    assert "we store no name" in page.inner_text("#promise")
    assert page.locator("#caller_name").count() == 0
    started = time.monotonic()
    page.check("input[name=channel][value=phone]")
    page.select_option("#contact_type", "adult_about_own_behaviour")
    page.check("input[name=categories][value=own_behaviour_concern]")
    page.select_option("#outcome", "referred")
    page.check("input[name=referrals][value=health]")
    page.check("#immediate_risk")
    page.click("#record")
    page.wait_for_url(re.compile(r".*/console/helpline/contacts/\d+.*"))
    TIMINGS["prevention_contact_s"] = time.monotonic() - started
    assert "Escalated to a supervisor" in page.inner_text("#flash")
    assert "Waiting for a supervisor" in page.content()
    assert page.locator("#handoff-form").count() == 0
    # The counsellor's hotline report can be followed on the public status page.
    page.goto(f"/report/status?receipt={receipt}")
    assert "received" in page.content().lower()
    page.goto(child_url)
    assert receipt in page.inner_text("#receipt")

    sup = _login(browser, server, make_user("sam", "helpline_supervisor"))
    sup.goto("/console/helpline/escalations")
    sup.select_option("select[name=decision]", "disclose")
    sup.select_option("select[name=disclose_to]", "police")
    sup.click("button:has-text('Decide')")
    sup.wait_for_url("**/escalations?msg=*")
    assert sup.locator("#no-escalations").count() == 1
    sup.goto("/console/helpline/trends?year=2025&by=channel")
    assert sup.locator("svg.chart").count() == 2
    cells = sup.locator("#trend-table td").all_inner_texts()
    assert "*" in cells
    assert all(c == "*" or int(c) == 0 or int(c) >= 5 for c in cells)
    # Under a minute each, measured from the first click to the saved page.
    assert TIMINGS["child_contact_s"] < 60 and TIMINGS["prevention_contact_s"] < 60
    print(f"\nhelpline browser timings: {TIMINGS}")

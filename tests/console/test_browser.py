"""End to end in a real browser: two analysts and a supervisor work a queue.

Log in with TOTP, claim, reveal, grade, confirm by a second analyst, see the item enter the
confirmed bank and a matching item skip the queue; resolve a dispute; XSS stays inert.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from openhotline.assessment import banks
from openhotline.media.models import Item
from tests.console.browser import (  # noqa: F401 - fixtures
    Analyst,
    LiveServer,
    browser,
    live_server,
)
from tests.console.test_security import PAYLOADS, console_pages, seed_hostile_content
from tests.console_fixtures import Items, Staff, near_copy

pytestmark = pytest.mark.browser


def _claim_and_open(user: Analyst, item_id: int) -> None:
    page = user.page
    page.goto("/console/queue")
    page.click(f"#claim-{item_id}")
    page.wait_for_url(f"**/console/items/{item_id}?msg=claimed")


def _grade(user: Analyst, code: str, **fields: str) -> str:
    page = user.page
    page.check(f"#class-{code}")
    for name, value in fields.items():
        page.select_option(f"#field-{name}", value)
    page.click("#save-grade")
    page.wait_for_url("**/console/queue?msg=*")
    return str(page.inner_text("#flash"))


def test_two_analysts_and_a_supervisor_work_the_queue(
    browser: Any,  # noqa: F811
    live_server: LiveServer,  # noqa: F811
    make_user: Callable[..., Staff],
    items: Items,
    session_factory: sessionmaker[Session],
) -> None:
    urgent_item = items.item(31, items.case("http://example.test/u", child_in_danger=True))
    disputed_item = items.item(32, items.case("http://example.test/d"))
    ana = Analyst(browser, live_server, make_user("ana"))
    ben = Analyst(browser, live_server, make_user("ben"))
    sue = Analyst(browser, live_server, make_user("sue", "supervisor"))
    for user in (ana, ben, sue):
        user.login()

    # Ana: the urgent item is first; claim it, see it blurred, reveal, hide, grade.
    ana.page.goto("/console/queue")
    first_row = ana.page.locator("#queue tbody tr").first
    assert first_row.get_attribute("data-item") == str(urgent_item)
    assert "child in danger" in first_row.inner_text()
    _claim_and_open(ana, urgent_item)
    assert ana.page.get_attribute("#preview", "alt") == "blurred preview"
    assert ana.preview_is_grey(urgent_item)
    ana.page.click("#reveal")
    ana.page.wait_for_selector("#revealed")
    assert ana.page.get_attribute("#preview", "alt") == "revealed preview"
    # The image loads after the page: wait for it (on a busy machine it is not there yet).
    ana.page.locator("#preview").evaluate("img => img.decode()")
    assert ana.page.evaluate("document.querySelector('#preview').naturalWidth") > 0
    assert not ana.preview_is_grey(urgent_item)
    ana.page.click("#hide")
    ana.page.wait_for_selector("#reveal")
    assert ana.preview_is_grey(urgent_item)
    assert "Another analyst must confirm" in _grade(ana, "baseline", age_band="unclear")

    # Ben confirms it blind: the hashes enter the confirmed bank.
    ben.page.goto("/console/queue")
    assert ben.page.locator(f'tr[data-item="{urgent_item}"]').count() == 1
    _claim_and_open(ben, urgent_item)
    assert ben.page.locator("#confirming").count() == 1
    assert "confirmed hash bank" in _grade(ben, "baseline")
    with session_factory() as s:
        item = s.get(Item, urgent_item)
        assert item is not None and item.status == "assessed"
        assert banks.find_confirmed_match(s, item) is not None

    # A near duplicate (resized, re-encoded as JPEG) is found elsewhere: its PDQ hash
    # matches the confirmed bank, so it is assessed automatically and nobody is shown it.
    copy_id = items.item(0, items.case("http://mirror.example.test/u"), data=near_copy(31))
    for user in (ana, ben):
        user.page.goto("/console/queue")
        assert user.page.locator(f'tr[data-item="{copy_id}"]').count() == 0
    ben.page.goto(f"/console/items/{copy_id}")
    assert ben.page.locator("#known").count() == 1
    assert ben.page.locator("#preview").count() == 0
    with session_factory() as s:
        copied = s.get(Item, copy_id)
        assert copied is not None and copied.status == "auto_assessed"

    # Ana and Ben disagree on the second item: Sue decides it.
    _claim_and_open(ana, disputed_item)
    _grade(ana, "national")
    _claim_and_open(ben, disputed_item)
    assert "supervisor will decide" in _grade(ben, "not_illegal")
    sue.page.goto("/console/supervisor/disputes")
    sue.page.click(f"#open-dispute-{disputed_item}")
    assert "ana" in sue.page.inner_text("#grades") and "ben" in sue.page.inner_text("#grades")
    sue.page.click("#reveal")
    sue.page.wait_for_selector("#revealed")
    sue.page.check("#class-national")
    sue.page.click("#save-grade")
    sue.page.wait_for_url("**/console/supervisor/disputes?msg=resolved")
    assert sue.page.locator("#no-disputes").count() == 1

    # Sue sees everyone's exposure today.
    sue.page.goto("/console/supervisor/exposure")
    assert sue.page.locator('tr[data-user="ana"]').count() == 1
    assert sue.page.locator('tr[data-user="sue"] td').nth(2).inner_text() == "1"

    # The queue is empty for everyone; no dialog ever fired.
    ana.page.goto("/console/queue")
    assert ana.page.locator("#queue-empty").count() == 1
    assert ana.dialogs == ben.dialogs == sue.dialogs == []
    for user in (ana, ben, sue):
        user.close()


def test_xss_payloads_inert_in_the_browser(
    browser: Any,  # noqa: F811
    live_server: LiveServer,  # noqa: F811
    make_user: Callable[..., Staff],
    items: Items,
    session_factory: sessionmaker[Session],
) -> None:
    ids = seed_hostile_content(items, session_factory)
    for role in ("analyst", "supervisor", "admin"):
        user = Analyst(browser, live_server, make_user(f"b-{role}", role))
        user.login()
        if role == "analyst":
            user.page.goto("/console/queue")
            user.page.click(f"#claim-{ids['item']}")
        for url in console_pages(ids):
            response = user.page.goto(url)
            assert response is not None
            if response.status == 403:
                continue
            page = user.page
            assert page.locator("script").count() == 0, url
            assert page.locator("img[src='x'], svg, [onerror], [onload]").count() == 0, url
            assert page.locator("a[href^='javascript']").count() == 0, url
        user.page.goto(f"/console/cases/{ids['case']}")
        assert PAYLOADS[0] in user.page.inner_text("main") or role == "admin"
        assert user.dialogs == [], user.dialogs
        user.close()


def test_cross_site_form_cannot_act_for_a_logged_in_user(
    browser: Any,  # noqa: F811
    live_server: LiveServer,  # noqa: F811
    make_user: Callable[..., Staff],
) -> None:
    """A page elsewhere posting to the console: no valid CSRF token, so nothing happens."""
    user = Analyst(browser, live_server, make_user("ana"))
    user.login()
    attacker = user.context.new_page()
    attacker.set_content(
        f'<form method="post" action="{live_server.base}/console/logout">'
        '<input type="hidden" name="csrf_token" value="guess">'
        '<button id="go">win a prize</button></form>'
    )
    with attacker.expect_navigation():
        attacker.click("#go")
    assert "CSRF" in attacker.content() or "Log in first" in attacker.content()
    user.page.goto("/console/")
    assert "Welcome, ana" in user.page.inner_text("h1")
    user.close()

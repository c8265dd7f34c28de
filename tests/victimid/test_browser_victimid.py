"""The victim-identification pages in a real browser: the role works a series; others are refused.

The VID user creates a series, sees only blurred previews until opening one (budgeted),
finds and accepts a possibly related item, sets the victim status and saves clues; an
analyst and an administrator get no link and a 403 on every one of those pages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.assessment.models import Reveal
from openhotline.victimid.models import Series
from tests.console.browser import (  # noqa: F401 - fixtures
    Analyst,
    LiveServer,
    browser,
    live_server,
)
from tests.console_fixtures import Items, Staff
from tests.victimid.support import variant

pytestmark = pytest.mark.browser


def test_victim_identification_pages_for_the_role_only(
    browser: Any,  # noqa: F811
    live_server: LiveServer,  # noqa: F811
    make_user: Callable[..., Staff],
    items: Items,
    session_factory: sessionmaker[Session],
) -> None:
    first = items.item(0, data=variant(51, 0))
    near = items.item(0, data=variant(51, 2))  # a rescaled re-encode: a PDQ neighbour
    items.item(0, data=variant(52, 0))  # unrelated
    vid = Analyst(browser, live_server, make_user("vera", "victim-identification"))
    vid.login()
    page = vid.page
    page.click("#nav-victimid")
    page.wait_for_url("**/console/victimid/")
    page.fill("#title", "walk")
    page.fill("#item_ids", str(first))
    page.click("#create-series")
    page.wait_for_url("**/console/victimid/series/*")
    with session_factory() as s:
        series_id = s.execute(select(Series.id)).scalar_one()

    # Blurred until opened; opening counts against the exposure budget.
    preview = f"{vid.base}/console/victimid/items/{first}/preview"
    blurred = vid.context.request.get(preview)
    assert blurred.status == 200 and blurred.headers["content-type"] == "image/jpeg"
    assert page.locator("#contact-sheet img").count() == 1
    page.click(".open-item")
    page.wait_for_url(f"**/console/victimid/series/{series_id}#item-{first}")
    clear = vid.context.request.get(preview)
    assert clear.status == 200 and clear.body() != blurred.body()
    with session_factory() as s:
        assert s.execute(select(Reveal.item_id)).scalars().all() == [first]

    page.click("#find-related")
    page.wait_for_url("**?msg=suggested")
    rows = page.locator("tr.suggestion")
    assert rows.count() == 1 and "PDQ distance" in rows.first.inner_text()
    page.click("tr.suggestion .accept")
    page.wait_for_url("**?msg=accepted")
    assert page.locator("#contact-sheet img").count() == 2
    assert page.locator("#no-suggestions").count() == 1

    page.select_option("#status", "not_identified")
    page.fill("#police_reference", "POL-1")
    page.click("#save-fields")
    page.wait_for_url("**?msg=saved")
    assert page.inner_text("#victim-status") == "not identified"
    page.fill("#clues", "clue text")
    page.click("#save-notes")
    page.wait_for_url("**?msg=saved")
    assert page.input_value("#clues") == "clue text"
    with session_factory() as s:
        series = s.get(Series, series_id)
        assert series is not None and series.clues_enc and b"clue text" not in series.clues_enc
    assert near != first
    vid.close()

    for username, role in (("andy", "analyst"), ("adam", "admin")):
        other = Analyst(browser, live_server, make_user(username, role))
        other.login()
        assert other.page.locator("#nav-victimid").count() == 0
        for path in (
            "/console/victimid/",
            f"/console/victimid/series/{series_id}",
            f"/console/victimid/items/{first}/preview",
        ):
            response = other.page.goto(path)
            assert response is not None and response.status == 403, (role, path)
        assert "clue text" not in other.page.content()
        other.close()

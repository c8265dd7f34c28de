"""The whole path in a browser: report -> capture (crawler and rendered) -> two analysts grade
ONE of three items illegal -> notice sent while the other two are still open -> page removed
-> re-check -> delisted. Runs on SQLite and PostgreSQL (a db test)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from openhotline.assessment.models import ItemReview, ReviewState
from openhotline.blocklist import service as blocklist
from openhotline.blocklist.models import ListEntry, ListKind
from openhotline.capture import recapture
from openhotline.capture.render import unavailable_reason
from openhotline.cases.models import Case, CaseStatus
from openhotline.db import transaction
from openhotline.jobs import service as jobs
from openhotline.media.models import CaseItem
from openhotline.takedown.models import Notice
from tests.console.browser import (  # noqa: F401 - fixtures
    Analyst,
    LiveServer,
    browser,
    live_server,
)
from tests.console_fixtures import Staff
from tests.takedown.takedown_world import World, make_world  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _grade_in_browser(user: Analyst, item_id: int, code: str) -> str:
    page = user.page
    page.goto("/console/queue")
    page.click(f"#claim-{item_id}")
    page.wait_for_url(f"**/console/items/{item_id}?msg=claimed")
    page.check(f"#class-{code}")
    page.click("#save-grade")
    page.wait_for_url("**/console/queue?msg=*")
    return str(page.inner_text("#flash"))


@pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))
def test_one_confirmed_item_of_three_sends_the_notice_then_removal_delists(
    browser: Any,  # noqa: F811
    live_server: LiveServer,  # noqa: F811
    make_world: Callable[..., World],  # noqa: F811
    make_user: Callable[..., Staff],
) -> None:
    world = make_world("US")  # neither own nor partner country: notice to the host
    world.gallery("/three", [81, 82, 83])
    r = world.client.post("/api/v1/reports", json={"urls": [world.url("/three")]})
    assert r.status_code == 201, r.text
    factory = world.queue.services.sessionmaker
    world.drain()  # crawler capture: three items queued
    with factory() as s:
        case = s.execute(select(Case)).scalar_one()
        case_id = case.id
        assert case.status == CaseStatus.TRIAGE
    with transaction(factory) as s:  # an analyst asks for the rendered mode too
        recapture.request_render(s, case_id, "user:ana", unavailable=None)
    world.drain()
    with factory() as s:
        links = {
            str(u): int(i)
            for u, i in s.execute(
                select(CaseItem.media_url, CaseItem.item_id).where(CaseItem.case_id == case_id)
            ).all()
        }
    assert any(u.startswith("screenshot: ") for u in links)  # the rendered mode's screenshot
    first, second, third = (links[world.url(f"/three/img{i}.png")] for i in range(3))

    ana = Analyst(browser, live_server, make_user("ana"))
    ben = Analyst(browser, live_server, make_user("ben"))
    for user in (ana, ben):
        user.login()
    assert "Another analyst must confirm" in _grade_in_browser(ana, first, "baseline")
    assert "confirmed hash bank" in _grade_in_browser(ben, first, "baseline")
    world.drain()  # trace, route, notice
    with factory() as s:
        case = s.get(Case, case_id)
        assert case is not None and case.status == CaseStatus.ACTIONED
        notice = s.execute(select(Notice).where(Notice.case_id == case_id)).scalar_one()
        assert notice.first_sent_at is not None
        for other in (second, third):  # still open: they did not hold the notice back
            review = s.get(ItemReview, other)
            assert review is not None and review.state == ReviewState.OPEN
    assert [rcpts for rcpts, _m in world.mail.messages] == [["abuse@host-a.test"]]
    # The case page shows it to the analysts (status, timeline).
    ana.page.goto(f"/console/cases/{case_id}")
    assert ana.page.inner_text("#case-status") == "actioned"
    with transaction(factory) as s:
        blocklist.publish_lists(s, actor="test")
    world.site.pages.pop("/three")  # the host removes the page
    with transaction(factory) as s:
        jobs.enqueue(s, "takedown.recheck", {"case_id": case_id})
    world.drain()
    with transaction(factory) as s:
        blocklist.publish_lists(s, actor="test")
    with factory() as s:
        case = s.get(Case, case_id)
        assert case is not None and case.status == CaseStatus.REMOVED and case.removed_at
        entry = s.execute(
            select(ListEntry).where(
                ListEntry.kind == ListKind.URLS, ListEntry.url == case.canonical_url
            )
        ).scalar_one()
        assert entry.removed_version is not None and entry.removed_version > entry.added_version
    # The other items are still graded afterwards, for the hash lists and statistics.
    assert "decided" in _grade_in_browser(ana, second, "not_illegal").lower()
    for user in (ana, ben):
        user.close()

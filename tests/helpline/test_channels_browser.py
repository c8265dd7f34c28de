"""Browser tests of the live channels (Debian's chromium, never a download).

1. A child writes by SMS on three days, each time from the same number written differently;
   a local sender posts correctly signed webhooks to the real server, a local receiver
   stands in for the provider's API. The counsellor answers in the browser and finds ONE
   case with three contacts. Then the number, in every format, is nowhere in the database
   (every column of every table) nor in the server's log.
2. An anonymous prevention web chat in the browser: no cookie, no IP address or browser
   details stored; the reply appears through the poll script without reloading.
The server runs on the real clock: the finished contacts are moved back one and two days
in the database so that the three contacts lie on three days.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.config import Settings
from openhotline.db import transaction
from openhotline.helpline.case_models import Conversation
from openhotline.helpline.models import HelplineContact
from tests.console_fixtures import Staff
from tests.helpline.channel_helpers import (
    NEEDLES,
    Receiver,
    channel_settings,
    find_needles,
    signed_form,
    sms_fields,
)
from tests.helpline.test_browser import _login, browser  # noqa: F401 (fixture)
from tests.serverproc import ServerProcess

pytestmark = pytest.mark.browser


@pytest.fixture
def server(db_url: str, console_settings: Settings, provider: Receiver) -> Iterator[ServerProcess]:
    data_dir: Path = console_settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {"OPENHOTLINE_SESSION_COOKIE_SECURE": "false"}
    for name, value in channel_settings(provider.url).items():
        env[f"OPENHOTLINE_{name.upper()}"] = json.dumps(value) if isinstance(value, list) else value
    proc = ServerProcess(db_url, data_dir, env)
    proc.start()
    yield proc
    proc.stop()


def _answer_and_end(page: Any, text: str) -> None:
    page.goto("/console/helpline/inbox")
    page.locator("button.pickup").first.click()
    page.wait_for_url(re.compile(r".*/conversations/\d+\?msg=picked_up"))
    page.fill("#body", text)
    page.click("#send-reply")
    page.wait_for_url(re.compile(r".*msg=reply_sent"))
    page.select_option("#contact_type", "child_about_self")
    page.check("input[name=categories][value=online_safety]")
    page.select_option("#outcome", "support_given")
    page.click("#end")
    page.wait_for_url(re.compile(r".*/cases/\d+\?msg=conversation_ended"))


def test_sms_child_returns_three_times_to_one_case(
    browser: Any,  # noqa: F811
    server: ServerProcess,
    provider: Receiver,
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
    engine: Engine,
) -> None:
    page = _login(browser, server, make_user("cora", "counsellor"))
    url = f"{server.base}/helpline/webhooks/sms"
    for day, form in enumerate(("+447700900123", "07700900123", "447700900123")):
        body, headers = signed_form(url, sms_fields(form, f"synthetic day {day}", f"SM{day:032d}"))
        r = httpx.post(url, content=body, headers=headers, timeout=10)
        assert r.status_code == 200, r.text
        if day:
            page.goto("/console/helpline/inbox")
            assert f"{day} earlier contacts" in page.inner_text("#waiting")
        _answer_and_end(page, f"synthetic reply {day}")
        # Move what is finished one day back, so the contacts lie on three days.
        with transaction(session_factory) as s:
            for c in s.execute(select(HelplineContact)).scalars():
                c.contact_at -= timedelta(days=1)
            for conv in s.execute(select(Conversation)).scalars():
                conv.started_at -= timedelta(days=1)
    page.goto("/console/helpline/cases")
    assert page.locator("tr.case-row").count() == 1
    assert page.inner_text("td.n-contacts") == "3"
    page.locator("tr.case-row a").first.click()
    assert page.inner_text("#contact-count") == "3"
    days = {t[:10] for t in page.locator("tr.case-contact td:nth-child(2)").all_inner_texts()}
    assert len(days) == 3
    assert [m["To"] for m in provider.received] == ["+447700900123"] * 3
    assert find_needles(engine, NEEDLES) == []
    log = server.log.read_text(errors="replace")
    assert "Application startup complete" in log  # the server's whole output was captured
    assert [n for n in NEEDLES if n in log] == []


def test_anonymous_prevention_web_chat_in_the_browser(
    browser: Any,  # noqa: F811
    server: ServerProcess,
    make_user: Callable[..., Staff],
    engine: Engine,
) -> None:
    agent = "Mozilla/5.0 UniqueChatAgent/9.9"
    person = browser.new_context(base_url=server.base, user_agent=agent)
    chat = person.new_page()
    chat.goto("/helpline/chat/prevention")
    assert chat.locator("#leave-quickly").is_visible()
    chat.fill("#message", "synthetic worry in the browser")
    chat.click("#send")
    chat.wait_for_url(re.compile(r".*/helpline/chat/c/[\w-]+$"))
    token = chat.url.rsplit("/", 1)[-1]
    assert "Please wait" in chat.inner_text("#chat-status")

    page = _login(browser, server, make_user("cora", "counsellor"))
    page.goto("/console/helpline/inbox")
    page.locator("button.pickup").first.click()
    page.wait_for_url(re.compile(r".*msg=picked_up"))
    page.fill("#body", "synthetic answer in the browser")
    page.click("#send-reply")
    page.wait_for_url(re.compile(r".*msg=reply_sent"))
    # The poll script shows the reply without a reload.
    chat.wait_for_selector("li.chat-counsellor", timeout=15_000)
    assert "synthetic answer in the browser" in chat.inner_text("#messages")
    assert person.cookies() == []
    person.close()
    assert find_needles(engine, (agent, "UniqueChatAgent", "127.0.0.1", token)) == []

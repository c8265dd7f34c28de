"""The console's bank page (policy, source, size, last sync; admins set policy) and item hints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from openhotline.assessment import banks as assessment_banks
from openhotline.assessment import service as assessment
from openhotline.audit import service as audit
from openhotline.db import transaction
from openhotline.matching import service
from openhotline.matching.formats import FileFormat, parse_lines
from openhotline.matching.models import HashType
from openhotline.matching.policy import BankPolicy
from openhotline.media.models import Item
from tests.console.browser import (  # noqa: F401 - fixtures
    Analyst,
    LiveServer,
    browser,
    live_server,
)
from tests.console_fixtures import Items, Staff, login


def _banks(session_factory: sessionmaker[Session]) -> int:
    """A partner bank of two imported hashes and the own confirmed bank; the partner's id."""
    rows = parse_lines(
        ["hash_type,hash,classification\n", f"md5,{'a' * 32},A1\n", f"md5,{'b' * 32},B2\n"],
        FileFormat.CSV,
    )
    with transaction(session_factory) as s:
        bank = service.create_bank(s, "partner-list")
        service.import_rows(s, bank, rows)
        assessment_banks.confirmed_bank(s)
        return bank.id


def test_admin_sees_and_changes_policy_audited(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
) -> None:
    bank_id = _banks(session_factory)
    admin = new_client()
    csrf = login(admin, make_user("root", "admin"))
    page = admin.get("/console/banks").text
    row = page.split('data-bank="partner-list"')[1].split("</tr>")[0]
    assert '<td class="source">imported</td>' in row and '<td class="size">2</td>' in row
    assert '<option value="review_with_hint" selected>' in row
    assert "never" not in row  # the import is the last sync
    confirmed = page.split('data-bank="confirmed"')[1].split("</tr>")[0]
    assert '<option value="auto_assess" selected>' in confirmed and "never" in confirmed
    bad = admin.post(f"/console/banks/{bank_id}/policy", data={"csrf_token": csrf, "policy": "x"})
    assert bad.status_code == 400 and "unknown bank policy" in bad.text
    missing = admin.post("/console/banks/999/policy", data={"csrf_token": csrf, "policy": "x"})
    assert missing.status_code == 400
    missing = admin.post(
        "/console/banks/999/policy", data={"csrf_token": csrf, "policy": "report_only"}
    )
    assert missing.status_code == 404
    ok = admin.post(
        f"/console/banks/{bank_id}/policy",
        data={"csrf_token": csrf, "policy": "auto_assess"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert (
        '<option value="auto_assess" selected>'
        in admin.get("/console/banks").text.split('data-bank="partner-list"')[1].split("</tr>")[0]
    )
    with session_factory() as s:
        changes = [
            (e.actor, e.target, audit.details_of(e)) for e in audit.recent(s, action_prefix="bank.")
        ]
    assert changes == [
        ("user:root", "bank:partner-list", {"from": "review_with_hint", "to": "auto_assess"})
    ]


def test_supervisor_sees_banks_but_cannot_change_policy(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
) -> None:
    bank_id = _banks(session_factory)
    sup = new_client()
    csrf = login(sup, make_user("sue", "supervisor"))
    page = sup.get("/console/banks")
    assert page.status_code == 200 and '<span class="value">review_with_hint</span>' in page.text
    assert "<select" not in page.text
    refused = sup.post(
        f"/console/banks/{bank_id}/policy", data={"csrf_token": csrf, "policy": "auto_assess"}
    )
    assert refused.status_code == 403
    analyst = new_client()
    login(analyst, make_user("ana"))
    assert analyst.get("/console/banks").status_code == 403
    assert 'href="/console/banks"' not in analyst.get("/console/").text


def _hinted_item(items: Items, session_factory: sessionmaker[Session], policy: BankPolicy) -> int:
    item_id = items.item(41, items.case("http://example.test/h"))
    with transaction(session_factory) as s:
        item = s.get(Item, item_id)
        assert item is not None
        bank = service.create_bank(s, "partner-list")
        service.add_entry(s, bank, HashType.SHA256, item.sha256, classification="A1")
        assessment_banks.map_bank_classes(s, "partner-list", {"A1": "baseline"}, "default", "t")
        service.set_policy(s, bank, policy, actor="t")
        found = service.exact_matches(s, {HashType.SHA256: item.sha256})
        assert assessment.assess_automatically(s, item, found) is None
    return item_id


@pytest.mark.parametrize("policy", [BankPolicy.REVIEW_WITH_HINT, BankPolicy.REPORT_ONLY])
def test_item_page_shows_review_hints_only(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    items: Items,
    session_factory: sessionmaker[Session],
    policy: BankPolicy,
) -> None:
    item_id = _hinted_item(items, session_factory, policy)
    analyst = new_client()
    login(analyst, make_user("ana"))
    page = analyst.get(f"/console/items/{item_id}").text
    assert 'id="known"' not in page  # a hint is not an assessment
    if policy == BankPolicy.REVIEW_WITH_HINT:
        hint = page.split('id="bank-hints"')[1].split("</div>")[0]
        assert "partner-list" in hint and "A1" in hint and "maps to" in hint
    else:
        assert 'id="bank-hints"' not in page


@pytest.mark.browser
def test_bank_page_in_the_browser_for_admin_and_supervisor(
    browser: Any,  # noqa: F811
    live_server: LiveServer,  # noqa: F811
    make_user: Callable[..., Staff],
    items: Items,
    session_factory: sessionmaker[Session],
) -> None:
    bank_id = _banks(session_factory)
    admin = Analyst(browser, live_server, make_user("root", "admin"))
    sup = Analyst(browser, live_server, make_user("sue", "supervisor"))
    for user in (admin, sup):
        user.login()
    page = admin.page
    page.click("nav >> text=Banks")
    page.wait_for_url("**/console/banks")
    page.select_option(f"#policy-{bank_id}", "report_only")
    page.click(f"#save-policy-{bank_id}")
    page.wait_for_url("**/console/banks?msg=bank_updated")
    assert "Bank policy saved." in page.inner_text("#flash")
    assert page.input_value(f"#policy-{bank_id}") == "report_only"
    sup.page.goto("/console/banks")
    row = sup.page.locator('tr[data-bank="partner-list"]')
    assert row.locator(".policy").inner_text().strip() == "report_only"
    assert row.locator(".size").inner_text() == "2"
    assert sup.page.locator("select").count() == 0
    assert admin.dialogs == [] and sup.dialogs == []
    for user in (admin, sup):
        user.close()

"""Issue 16 fixes: the hotline case shows its helpline origin (and nothing of the contact);
the hand-off shows its receipt and is not offered while an escalation is pending; the demo
writes past-dated, marked contacts and one audit entry."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from openhotline.accounts import permissions
from openhotline.accounts.permissions import Permission
from openhotline.audit.models import AuditEntry
from openhotline.cli import app as cli_app
from openhotline.config import get_settings
from openhotline.db import transaction
from openhotline.helpline.models import HelplineContact
from openhotline.helpline.resource_models import DemoContact
from openhotline.reporting.models import ReportURL
from tests.console_fixtures import Staff, login

FORM = {
    "mode": "child",
    "channel": "chat",
    "contact_type": "child_about_self",
    "categories": ["online_sexual_exploitation"],
    "outcome": "support_given",
    "notes": "synthetic confidential note 4711",
    "caller_name": "Synthetic Caller Name",
}


def _record(client: TestClient, csrf: str, **extra: str) -> int:
    r = client.post(
        "/console/helpline/contacts",
        data={**FORM, **extra, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    match = re.search(r"/contacts/(\d+)", r.headers["location"])
    assert match
    return int(match.group(1))


@pytest.fixture
def counsellor(
    new_client: Callable[[], TestClient], make_user: Callable[..., Staff]
) -> tuple[TestClient, str]:
    client = new_client()
    return client, login(client, make_user("cora", "counsellor"))


def test_handoff_is_not_offered_while_an_escalation_is_pending(
    counsellor: tuple[TestClient, str],
) -> None:
    client, csrf = counsellor
    cid = _record(client, csrf, immediate_risk="1")
    page = client.get(f"/console/helpline/contacts/{cid}")
    assert "Waiting for a supervisor" in page.text
    assert 'id="handoff-form"' not in page.text  # was offered, then refused with a 409
    assert 'id="handoff-waiting"' in page.text
    calm = _record(client, csrf)
    assert 'id="handoff-form"' in client.get(f"/console/helpline/contacts/{calm}").text


def test_handoff_shows_its_receipt_and_the_case_shows_its_origin(
    counsellor: tuple[TestClient, str],
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, csrf = counsellor
    cid = _record(client, csrf)
    r = client.post(
        f"/console/helpline/contacts/{cid}/handoff",
        data={"urls": "https://example.test/x", "consent": "1", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get(r.headers["location"])
    assert "Hotline report made." in page.text
    receipt = re.search(r'id="receipt">([0-9A-Z]{4}(?:-[0-9A-Z]{4}){4})<', page.text)
    assert receipt, "the hand-off must show the caller's receipt code"
    status = client.get("/report/status", params={"receipt": receipt.group(1)})
    assert status.status_code == 200
    with transaction(session_factory) as s:
        case_id = s.execute(select(ReportURL.case_id)).scalar_one()
        ref = s.get(HelplineContact, cid).ref  # type: ignore[union-attr]

    analyst = new_client()
    login(analyst, make_user("ana", "analyst"))
    case = analyst.get(f"/console/cases/{case_id}")
    assert case.status_code == 200
    origin = re.search(r'id="helpline-origin-\d+">([^<]*)', case.text)
    assert origin and "helpline contact" in origin.group(1)
    assert ref not in case.text  # the contact's reference stays in the helpline
    assert "4711" not in case.text and "Synthetic Caller Name" not in case.text
    assert "/console/helpline/contacts/" not in case.text  # no helpline permission: no link

    # Staff allowed both (a deployment's own role) get a link to the contact.
    both = permissions.ROLE_PERMISSIONS["analyst"] | {
        Permission.HELPLINE_CONTACT_RECORD,
        Permission.HELPLINE_CONTACT_VIEW_ALL,
    }
    monkeypatch.setitem(permissions.ROLE_PERMISSIONS, "hybrid", both)
    hybrid = new_client()
    login(hybrid, make_user("hyb", "hybrid"))
    case = hybrid.get(f"/console/cases/{case_id}")
    link = re.search(
        r'href="(/console/helpline/contacts/\d+)" id="helpline-contact-link', case.text
    )
    assert link and link.group(1) == f"/console/helpline/contacts/{cid}"
    assert hybrid.get(link.group(1)).status_code == 200
    assert "4711" not in case.text


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("OPENHOTLINE_DATABASE_URL", db_url)
    monkeypatch.setenv("OPENHOTLINE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_demo_is_past_dated_marked_and_audited_once(
    cli: CliRunner, session_factory: sessionmaker[Session]
) -> None:
    now = datetime.now(UTC)
    this_month = f"{now.year:04d}-{now.month:02d}"
    result = cli.invoke(cli_app, ["helpline", "demo", "--year", str(now.year), "--count", "120"])
    if now.month == 1:  # no ended month yet this year: a clear error, nothing written
        assert result.exit_code == 1 and "no ended month" in result.output
        result = cli.invoke(
            cli_app, ["helpline", "demo", "--year", str(now.year - 1), "--count", "120"]
        )
    assert result.exit_code == 0, result.output
    with transaction(session_factory) as s:
        contacts = list(s.execute(select(HelplineContact)).scalars())
        assert len(contacts) == 120
        assert all(c.contact_at < now and c.period < this_month for c in contacts)
        assert s.execute(select(func.count()).select_from(DemoContact)).scalar_one() == 120
        actions = [e.action for e in s.execute(select(AuditEntry)).scalars()]
        assert actions == ["helpline.demo.loaded"]
    future = cli.invoke(cli_app, ["helpline", "demo", "--year", str(now.year + 1)])
    assert future.exit_code == 1 and "no ended month" in future.output
    assert "Traceback" not in future.output
    gone = cli.invoke(cli_app, ["helpline", "demo", "--remove"])
    assert gone.exit_code == 0 and "removed 120" in gone.output
    with transaction(session_factory) as s:
        assert s.execute(select(HelplineContact)).first() is None
        actions = [e.action for e in s.execute(select(AuditEntry)).scalars()]
        assert actions == ["helpline.demo.loaded", "helpline.demo.loaded"]

"""Phone calls through the provider's voice webhooks: queue, status, missed calls, one case."""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.app import create_app
from openhotline.audit.models import AuditEntry
from openhotline.config import Settings
from openhotline.db import transaction
from openhotline.helpline.case_models import Conversation, ConversationStatus
from tests.console_fixtures import Staff, login
from tests.helpline.channel_helpers import (
    NEEDLES,
    Receiver,
    channel_settings,
    find_needles,
    signed_form,
)
from tests.helpline.helpers import KEY

VOICE_URL = "http://testserver/helpline/webhooks/voice"
STATUS_URL = "http://testserver/helpline/webhooks/voice/status"
END_FORM = {"contact_type": "child_about_self", "outcome": "support_given"}


@pytest.fixture
def app_settings(console_settings: Settings, provider: Receiver) -> Settings:
    key = base64.b64encode(KEY).decode()
    update = {**channel_settings(provider.url), "helpline_key": key}
    update["helpline_channels"] = ["chat", "sms", "phone"]
    return console_settings.model_copy(update=update)


def _call(client: TestClient, sender: str, sid: str) -> Any:
    fields = {
        "CallSid": sid,
        "AccountSid": "ACtest",
        "From": sender,
        "To": "+447700900999",
        "CallStatus": "ringing",
        "Direction": "inbound",
    }
    data, headers = signed_form(VOICE_URL, fields)
    return client.post("/helpline/webhooks/voice", content=data, headers=headers)


def _status(client: TestClient, sid: str, status: str, duration: str | None = None) -> Any:
    fields = {"CallSid": sid, "AccountSid": "ACtest", "CallStatus": status}
    if duration is not None:
        fields["CallDuration"] = duration
    data, headers = signed_form(STATUS_URL, fields)
    return client.post("/helpline/webhooks/voice/status", content=data, headers=headers)


def _waiting_ids(client: TestClient) -> list[int]:
    page = client.get("/console/helpline/inbox")
    assert page.status_code == 200
    return [int(x) for x in re.findall(r'class="waiting-row" data-id="(\d+)"', page.text)]


def test_calls_queue_record_length_and_return_to_one_case_without_the_number(
    clients: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    engine: Engine,
    session_factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    counsellor = clients()
    csrf = login(counsellor, make_user("cora", "counsellor"))
    provider_side = clients()
    case_ids: set[int] = set()
    for n, form in enumerate(("+447700900123", "07700900123", "447700900123")):
        sid = f"CA{n:032d}"
        r = _call(provider_side, form, sid)
        assert r.status_code == 200, r.text
        # TwiML: the caller hears the greeting and waits in the provider's queue.
        assert r.headers["content-type"].startswith("text/xml")
        assert "<Say>You are through to the helpline." in r.text
        assert "<Enqueue>helpline</Enqueue>" in r.text
        # The provider retries a webhook it thinks failed: still one call.
        assert _call(provider_side, form, sid).status_code == 200
        waiting = _waiting_ids(counsellor)
        assert len(waiting) == 1
        page = counsellor.get(f"/console/helpline/conversations/{waiting[0]}")
        assert 'id="phone-note"' in page.text and 'id="reply-form"' not in page.text
        if n:
            assert "Earlier contacts of this caller" in page.text
        r = counsellor.post(
            f"/console/helpline/conversations/{waiting[0]}/pickup",
            data={"csrf_token": csrf},
            follow_redirects=False,
        )
        assert r.status_code == 303
        # A phone call takes no written reply.
        r = counsellor.post(
            f"/console/helpline/conversations/{waiting[0]}/reply",
            data={"csrf_token": csrf, "body": "synthetic"},
            follow_redirects=False,
        )
        assert r.status_code in (303, 400)
        assert "msg=reply_sent" not in r.headers.get("location", "")
        assert _status(provider_side, sid, "in-progress").status_code == 200
        assert _status(provider_side, sid, "completed", "754").status_code == 200
        page = counsellor.get(f"/console/helpline/conversations/{waiting[0]}")
        assert 'id="call-length">12 min 34 s<' in page.text
        r = counsellor.post(
            f"/console/helpline/conversations/{waiting[0]}/end",
            data={"csrf_token": csrf, **END_FORM},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        match = re.search(r"/cases/(\d+)", r.headers["location"])
        assert match, r.headers["location"]
        case_ids.add(int(match.group(1)))
    assert len(case_ids) == 1
    case_page = counsellor.get(f"/console/helpline/cases/{case_ids.pop()}")
    assert re.search(r'id="contact-count">3<', case_page.text)
    with transaction(session_factory) as s:
        convs = s.execute(select(Conversation)).scalars().all()
        assert [c.channel for c in convs] == ["phone"] * 3
        assert all(c.call_seconds == 754 and c.call_status == "completed" for c in convs)
        assert all(not c.messages and c.reply_to_enc is None for c in convs)
        ended = (
            s.execute(select(AuditEntry).where(AuditEntry.action == "helpline.conversation.ended"))
            .scalars()
            .all()
        )
        assert [json.loads(e.details)["duration_s"] for e in ended] == [754] * 3
    # Neither the number (in any form) nor the provider's call id is stored or logged.
    assert find_needles(engine, (*NEEDLES, "CA" + "0" * 32)) == []
    assert not [n for n in NEEDLES if n in caplog.text]


def test_a_call_nobody_answers_is_missed_and_leaves_the_inbox(
    clients: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
) -> None:
    counsellor = clients()
    login(counsellor, make_user("cora", "counsellor"))
    provider_side = clients()
    assert _call(provider_side, "+447700900123", "CA1").status_code == 200
    assert len(_waiting_ids(counsellor)) == 1
    assert _status(provider_side, "CA1", "no-answer", "0").status_code == 200
    assert _waiting_ids(counsellor) == []
    # A repeated final callback changes nothing.
    assert _status(provider_side, "CA1", "completed", "9").status_code == 200
    with transaction(session_factory) as s:
        conv = s.execute(select(Conversation)).scalar_one()
        assert conv.status == ConversationStatus.ENDED and conv.call_status == "missed"
        assert conv.contact_id is None and conv.call_seconds == 0
        missed = s.execute(
            select(AuditEntry).where(AuditEntry.action == "helpline.call.missed")
        ).scalar_one()
        assert json.loads(missed.details)["provider_status"] == "no-answer"


def test_voice_webhooks_refuse_bad_input_with_clear_4xx(
    clients: Callable[[], TestClient],
) -> None:
    client = clients()
    # Unsigned or wrongly signed: 403.
    fields = {"CallSid": "CA9", "From": "+447700900123", "CallStatus": "ringing"}
    data, headers = signed_form(VOICE_URL, fields, token="wrong-token-0123456789")
    r = client.post("/helpline/webhooks/voice", content=data, headers=headers)
    assert r.status_code == 403 and "X-Twilio-Signature" in r.text
    # Missing fields, a number that is not one, a bad duration, an unknown call or status.
    data, headers = signed_form(VOICE_URL, {"From": "+447700900123"})
    r = client.post("/helpline/webhooks/voice", content=data, headers=headers)
    assert r.status_code == 400 and "CallSid" in r.text
    assert _call(client, "not a number", "CA8").status_code == 400
    assert _call(client, "+447700900123", "CA7").status_code == 200
    r = _status(client, "CA7", "completed", "12s")
    assert r.status_code == 400 and "CallDuration" in r.text
    r = _status(client, "CA7", "exploded")
    assert r.status_code == 400 and "call status" in r.text
    r = _status(client, "CA-unknown", "completed", "3")
    assert r.status_code == 400 and "no call" in r.text
    data, headers = signed_form(STATUS_URL, {"CallSid": "CA7"})
    r = client.post("/helpline/webhooks/voice/status", content=data, headers=headers)
    assert r.status_code == 400 and "CallStatus" in r.text


def test_phone_channel_is_closed_unless_enabled(
    console_settings: Settings, provider: Receiver
) -> None:
    settings = console_settings.model_copy(update=channel_settings(provider.url))
    with TestClient(create_app(settings)) as client:
        r = _call(client, "+447700900123", "CA1")
        assert r.status_code == 404 and "phone channel is not enabled" in r.text

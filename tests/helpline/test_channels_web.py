"""Helpline channels and cases through HTTP: webhooks, the web chat, the inbox, case pages."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.audit.models import AuditEntry
from openhotline.clock import FixedClock
from openhotline.config import Settings
from openhotline.db import make_sessionmaker, transaction
from openhotline.helpline import cases, channels
from openhotline.helpline.callerkey import CallerKeys
from openhotline.helpline.case_models import (
    CaseStatus,
    Conversation,
    ConversationMessage,
    HelplineCase,
)
from openhotline.helpline.tasks import anonymise_expired
from tests.console_fixtures import Staff, csrf_of, login
from tests.helpline.channel_helpers import (
    AUTH_TOKEN,
    NEEDLES,
    Receiver,
    channel_settings,
    find_needles,
    signed_form,
    sms_fields,
)
from tests.helpline.helpers import KEY, TAXONOMY, child_input, cipher, record

SMS_URL = "http://testserver/helpline/webhooks/sms"
END_FORM = {"contact_type": "child_about_self", "outcome": "support_given"}


@pytest.fixture
def app_settings(console_settings: Settings, provider: Receiver) -> Settings:
    # The helpers' cipher key, so contacts recorded by tests decrypt in the app.
    key = base64.b64encode(KEY).decode()
    return console_settings.model_copy(
        update={**channel_settings(provider.url), "helpline_key": key}
    )


@pytest.fixture
def counsellor(
    clients: Callable[[], TestClient], make_user: Callable[..., Staff]
) -> tuple[TestClient, str]:
    client = clients()
    return client, login(client, make_user("cora", "counsellor"))


def _sms(client: TestClient, sender: str, body: str, sid: str) -> Any:
    data, headers = signed_form(SMS_URL, sms_fields(sender, body, sid))
    return client.post("/helpline/webhooks/sms", content=data, headers=headers)


def _waiting_ids(client: TestClient) -> list[int]:
    page = client.get("/console/helpline/inbox")
    assert page.status_code == 200
    return [int(x) for x in re.findall(r'class="waiting-row" data-id="(\d+)"', page.text)]


def _talk_and_end(client: TestClient, csrf: str, conv_id: int, reply: str) -> str:
    r = client.post(
        f"/console/helpline/conversations/{conv_id}/pickup",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    r = client.post(
        f"/console/helpline/conversations/{conv_id}/reply",
        data={"csrf_token": csrf, "body": reply},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "msg=reply_sent" in r.headers["location"], r.text
    r = client.post(
        f"/console/helpline/conversations/{conv_id}/end",
        data={"csrf_token": csrf, **END_FORM},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return str(r.headers["location"])


def test_webhook_refuses_bad_input_with_clear_4xx(
    clients: Callable[[], TestClient], engine: Engine
) -> None:
    client = clients()
    fields = sms_fields("+447700900123", "synthetic hello", "SM" + "1" * 32)
    data, headers = signed_form(SMS_URL, fields)
    # Wrong content type, no signature, a wrong signature, a signature for another URL.
    r = client.post("/helpline/webhooks/sms", json=fields)
    assert r.status_code == 415 and "x-www-form-urlencoded" in r.json()["error"]
    r = client.post(
        "/helpline/webhooks/sms", content=data, headers={**headers, "X-Twilio-Signature": ""}
    )
    assert r.status_code == 403
    bad = {**headers, "X-Twilio-Signature": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}
    assert client.post("/helpline/webhooks/sms", content=data, headers=bad).status_code == 403
    _d, other = signed_form("http://testserver/elsewhere", fields)
    assert client.post("/helpline/webhooks/sms", content=data, headers=other).status_code == 403
    _d, wrong_token = signed_form(SMS_URL, fields, token=AUTH_TOKEN + "x")
    r = client.post("/helpline/webhooks/sms", content=data, headers=wrong_token)
    assert r.status_code == 403 and "X-Twilio-Signature" in r.json()["error"]
    # Correctly signed but missing fields, or a sender that is no number.
    for drop in ("From", "Body"):
        partial = {k: v for k, v in fields.items() if k != drop}
        d, h = signed_form(SMS_URL, partial)
        r = client.post("/helpline/webhooks/sms", content=d, headers=h)
        assert r.status_code == 400 and drop in r.json()["error"]
    nosid = {k: v for k, v in fields.items() if "Sid" not in k or k == "AccountSid"}
    d, h = signed_form(SMS_URL, nosid)
    assert "MessageSid" in client.post("/helpline/webhooks/sms", content=d, headers=h).text
    d, h = signed_form(SMS_URL, {**fields, "From": "not-a-number"})
    assert client.post("/helpline/webhooks/sms", content=d, headers=h).status_code == 400
    # A huge body: refused before anything is parsed or stored.
    d, h = signed_form(SMS_URL, {**fields, "Body": "x" * 40_000})
    r = client.post("/helpline/webhooks/sms", content=d, headers=h)
    assert r.status_code == 413 and "larger than" in r.json()["error"]
    d = b"%ZZ=\xff\xfe"
    r = client.post("/helpline/webhooks/sms", content=d, headers=headers)
    assert r.status_code in (400, 403)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Conversation)).scalar() == 0


def test_replayed_message_is_stored_once(clients: Callable[[], TestClient], engine: Engine) -> None:
    client = clients()
    first = _sms(client, "+447700900123", "synthetic hello", "SM" + "2" * 32)
    again = _sms(client, "+447700900123", "synthetic hello", "SM" + "2" * 32)
    assert first.status_code == again.status_code == 200
    assert again.headers["content-type"].startswith("text/xml") and "<Response>" in again.text
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ConversationMessage)).scalar() == 1


def test_sms_caller_returns_to_one_case_and_the_number_is_never_stored(
    counsellor: tuple[TestClient, str],
    clients: Callable[[], TestClient],
    provider: Receiver,
    engine: Engine,
    session_factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client, csrf = counsellor
    sender = clients()
    case_ids: set[int] = set()
    for day, form in enumerate(("+447700900123", "07700900123", "447700900123")):
        assert _sms(sender, form, f"synthetic message {day}", f"SM{day:032d}").status_code == 200
        # A second message before pick-up continues the same conversation.
        assert _sms(sender, form, f"synthetic more {day}", f"SN{day:032d}").status_code == 200
        waiting = _waiting_ids(client)
        assert len(waiting) == 1
        if day:
            assert f"{day} earlier contacts" in client.get("/console/helpline/inbox").text
            page = client.get(f"/console/helpline/conversations/{waiting[0]}")
            assert "Earlier contacts of this caller" in page.text
        location = _talk_and_end(client, csrf, waiting[0], f"synthetic reply {day}")
        match = re.search(r"/cases/(\d+)", location)
        assert match, location
        case_ids.add(int(match.group(1)))
    assert len(case_ids) == 1
    case_ids_seen = set(case_ids)
    case_page = client.get(f"/console/helpline/cases/{case_ids.pop()}")
    assert re.search(r'id="contact-count">3<', case_page.text)
    # Replies went out through the provider to the caller's number in E.164.
    assert [m["To"] for m in provider.received] == ["+447700900123"] * 3
    assert provider.received[0]["From"] == "+447700900999"
    assert provider.received[0]["Body"] == "synthetic reply 0"
    with transaction(session_factory) as s:
        convs = s.execute(select(Conversation)).scalars().all()
        assert len(convs) == 3 and all(c.reply_to_enc is None for c in convs)
        assert all(c.ended_at is not None and c.started_at <= c.ended_at for c in convs)
        assert len(convs[0].messages) == 3  # two in, one out
    assert find_needles(engine, NEEDLES) == []
    assert not [n for n in NEEDLES if n in caplog.text]
    # The case is closed: the caller's next message opens a new episode, and the counsellor
    # sees the earlier case.
    case_id = next(iter(case_ids_seen))
    client.post(f"/console/helpline/cases/{case_id}", data={"csrf_token": csrf, "status": "closed"})
    # A provider failure is shown to the counsellor; the reply is kept, marked failed.
    provider.status = 500
    _sms(sender, "+447700900123", "synthetic again", "SO" + "0" * 32)
    conv_id = _waiting_ids(client)[0]
    page = client.get(f"/console/helpline/conversations/{conv_id}")
    assert 'id="past-cases"' in page.text and f"/console/helpline/cases/{case_id}" in page.text
    client.post(f"/console/helpline/conversations/{conv_id}/pickup", data={"csrf_token": csrf})
    r = client.post(
        f"/console/helpline/conversations/{conv_id}/reply",
        data={"csrf_token": csrf, "body": "synthetic lost"},
        follow_redirects=False,
    )
    assert "msg=reply_failed" in r.headers["location"]
    # Bad end input: a clear 400 with the form again, nothing recorded.
    r = client.post(
        f"/console/helpline/conversations/{conv_id}/end",
        data={"csrf_token": csrf, "contact_type": "nonsense", "outcome": "support_given"},
    )
    assert r.status_code == 400 and "contact_type" in r.text


def test_web_chat_without_javascript_stores_no_identifier(
    counsellor: tuple[TestClient, str],
    clients: Callable[[], TestClient],
    engine: Engine,
    session_factory: sessionmaker[Session],
) -> None:
    agent = "Mozilla/5.0 (X11) UniqueAgent/7.7.7"
    address = "203.0.113.77"
    person = clients()
    person.headers.update({"User-Agent": agent, "X-Forwarded-For": address, "X-Real-IP": address})
    start = person.get("/helpline/chat/prevention")
    assert start.status_code == 200 and 'id="leave-quickly"' in start.text
    assert "set-cookie" not in start.headers
    r = person.post("/helpline/chat/prevention", data={"message": ""})
    assert r.status_code == 400 and "Please write a message" in r.text
    r = person.post(
        "/helpline/chat/prevention", data={"message": "synthetic worry"}, follow_redirects=False
    )
    assert r.status_code == 303 and "set-cookie" not in r.headers
    chat_url = r.headers["location"]
    token = chat_url.rsplit("/", 1)[-1]
    page = person.get(chat_url)
    assert page.status_code == 200 and "synthetic worry" in page.text
    assert '<noscript><meta http-equiv="refresh"' in page.text and "helpline-chat.js" in page.text
    assert "no-store" in page.headers["cache-control"] and "set-cookie" not in page.headers
    r = person.post(chat_url, data={"message": "synthetic second"}, follow_redirects=False)
    assert r.status_code == 303 and "set-cookie" not in r.headers
    assert person.get("/helpline/chat/c/not-a-token").status_code == 404
    assert person.get("/helpline/chat/somethingelse").status_code == 404

    client, csrf = counsellor
    conv_id = _waiting_ids(client)[0]
    client.post(f"/console/helpline/conversations/{conv_id}/pickup", data={"csrf_token": csrf})
    r = client.post(
        f"/console/helpline/conversations/{conv_id}/reply",
        data={"csrf_token": csrf, "body": "synthetic answer"},
        follow_redirects=False,
    )
    assert "msg=reply_sent" in r.headers["location"]
    page = person.get(chat_url)
    assert "synthetic answer" in page.text and "A counsellor is with you" in page.text
    polled = person.get(f"{chat_url}/messages").json()
    assert [line["who"] for line in polled["lines"]] == ["you", "you", "counsellor"]
    r = client.post(
        f"/console/helpline/conversations/{conv_id}/end",
        data={
            "csrf_token": csrf,
            "contact_type": "adult_about_own_behaviour",
            "outcome": "support_given",
            "open_case": "1",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and "/cases/" in r.headers["location"]
    ended = person.get(chat_url)
    assert "This conversation has ended" in ended.text and 'id="chat-form"' not in ended.text
    assert person.post(chat_url, data={"message": "late"}).status_code == 409
    assert person.cookies.jar is not None and len(person.cookies.jar) == 0
    found = find_needles(engine, (agent, "UniqueAgent", address, token))
    assert found == []
    with transaction(session_factory) as s:
        conv = s.get(Conversation, conv_id)
        assert conv is not None and conv.caller_key is None and conv.reply_to_enc is None
        assert conv.mode == "prevention" and conv.contact_id is not None


def test_case_pages_tasks_referrals_summary_and_search(
    counsellor: tuple[TestClient, str], session_factory: sessionmaker[Session], engine: Engine
) -> None:
    client, csrf = counsellor
    with transaction(session_factory) as s:
        contact = record(s, child_input(categories=["peer_relationships"]), counsellor="cora")
        other = record(s, child_input(categories=["mental_health"]), counsellor="cora")
        cid, oid = contact.id, other.id
    r = client.post(
        f"/console/helpline/contacts/{cid}/case", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    case_id = int(r.headers["location"].split("/cases/")[1].split("?")[0])
    base = f"/console/helpline/cases/{case_id}"
    r = client.post(
        f"/console/helpline/contacts/{cid}/case", data={"csrf_token": csrf, "case_id": "999"}
    )
    assert r.status_code == 404
    r = client.post(
        base,
        data={
            "csrf_token": csrf,
            "status": "waiting",
            "counsellor": "cora",
            "summary": "synthetic summary 42",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    nextweek = (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%d")
    for title, due in (("synthetic call back", yesterday), ("synthetic check in", nextweek)):
        r = client.post(
            f"{base}/tasks",
            data={"csrf_token": csrf, "title": title, "due": due},
            follow_redirects=False,
        )
        assert r.status_code == 303
    assert (
        client.post(
            f"{base}/tasks", data={"csrf_token": csrf, "title": "x", "due": "soon"}
        ).status_code
        == 400
    )
    assert (
        client.post(f"{base}/referrals", data={"csrf_token": csrf, "agency": "nowhere"}).status_code
        == 400
    )
    r = client.post(
        f"{base}/referrals", data={"csrf_token": csrf, "agency": "health"}, follow_redirects=False
    )
    assert r.status_code == 303
    page = client.get(base)
    assert "synthetic summary 42" in page.text and "synthetic call back" in page.text
    assert page.text.count("overdue") >= 1 and 'class="task overdue"' in page.text
    assert 'id="case-status">waiting<' in page.text
    with transaction(session_factory) as s:
        case = s.get(HelplineCase, case_id)
        assert (
            case is not None and case.summary_enc and b"synthetic summary" not in case.summary_enc
        )
        task_id, ref_id = case.tasks[0].id, case.case_referrals[0].id
    r = client.post(
        f"{base}/tasks/{task_id}/done", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    r = client.post(
        f"{base}/referrals/{ref_id}",
        data={"csrf_token": csrf, "outcome": "accepted"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "<strong>accepted</strong>" in client.get(base).text
    assert find_needles(engine, ("synthetic summary 42", "synthetic call back")) == []

    # Search by id, category, date range, counsellor; bad filters are a clear 400.
    def hits(query: str) -> list[str]:
        page = client.get(f"/console/helpline/cases?{query}")
        return re.findall(
            r'<tr class="case-row"><td><a href="/console/helpline/cases/(\d+)"', page.text
        )

    assert hits(f"case_id={case_id}") == [str(case_id)]
    assert hits("category=peer_relationships") == [str(case_id)]
    assert hits("category=mental_health") == []
    assert hits("counsellor=cora") == [str(case_id)] and hits("counsellor=nobody") == []
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert hits(f"date_from={today}&date_to={today}") == [str(case_id)]
    assert hits("date_to=2001-01-01") == []
    assert client.get("/console/helpline/cases?date_from=yesterday").status_code == 400
    assert client.get("/console/helpline/cases?case_id=abc").status_code == 400
    assert client.get("/console/helpline/cases/99999").status_code == 404
    # Another contact joins the case; closing then adding reopens it.
    client.post(base, data={"csrf_token": csrf, "status": "closed"})
    client.post(
        f"/console/helpline/contacts/{oid}/case", data={"csrf_token": csrf, "case_id": str(case_id)}
    )
    assert 'id="case-status">open<' in client.get(base).text
    with transaction(session_factory) as s:
        actions = {e.action for e in s.execute(select(AuditEntry)).scalars()}
    assert {
        "helpline.case.opened",
        "helpline.case.updated",
        "helpline.case.viewed",
        "helpline.case.task",
        "helpline.case.referral",
        "helpline.case.contact_added",
    } <= actions


def test_analysts_cannot_reach_cases_or_the_inbox(
    clients: Callable[[], TestClient], make_user: Callable[..., Staff]
) -> None:
    client = clients()
    login(client, make_user("ann", "analyst"))
    assert client.get("/console/helpline/cases").status_code == 403
    assert client.get("/console/helpline/inbox").status_code == 403


def test_year_boundary_keeps_the_case_and_rotates_the_key(engine: Engine) -> None:
    keys = CallerKeys(bytes(range(32)))
    ident = "tel:+447700900123"

    def at(when: datetime) -> sessionmaker[Session]:
        return make_sessionmaker(engine, FixedClock(when))

    def talk(when: datetime, sid: str) -> tuple[int | None, int]:
        with transaction(at(when)) as s:
            got = channels.receive_provider_message(
                s,
                channel="sms",
                identity=ident,
                reply_to="+447700900123",
                body="synthetic",
                provider_id=sid,
                keys=keys,
                cipher=cipher(),
            )
            conv = got.conversation
            found = conv.case_id
            channels.pick_up(s, conv, counsellor="cora")
            data = channels.service.validate_contact(
                {"channel": "sms", "contact_type": "child_about_self", "outcome": "support_given"},
                "child",
            )
            _c, case = channels.end(
                s, conv, data, counsellor="cora", cipher=cipher(), taxonomy=TAXONOMY
            )
            assert case is not None
            return found, case.id

    found, first = talk(datetime(2026, 12, 31, 23, 50, tzinfo=UTC), "A1")
    assert found is None
    found, second = talk(datetime(2027, 1, 1, 0, 10, tzinfo=UTC), "A2")
    assert found == first == second
    with transaction(at(datetime(2027, 1, 2, tzinfo=UTC))) as s:
        case = s.get(HelplineCase, first)
        assert case is not None and case.caller_key == keys.key(ident, 2027)
        case.status = CaseStatus.OPEN
    # Away for the whole of 2028: in 2029 neither key of the lookup matches any more.
    found, third = talk(datetime(2029, 3, 1, tzinfo=UTC), "A3")
    assert found is None and third != first


def test_retention_anonymises_cases_tasks_and_transcripts(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    keys = CallerKeys(bytes(range(32)))
    old = make_sessionmaker(engine, FixedClock(datetime(2025, 3, 5, 10, tzinfo=UTC)))
    with transaction(old) as s:
        conv = channels.receive_provider_message(
            s,
            channel="sms",
            identity="tel:+447700900123",
            reply_to="+447700900123",
            body="synthetic old",
            provider_id="R1",
            keys=keys,
            cipher=cipher(),
        ).conversation
        channels.pick_up(s, conv, counsellor="cora")
        data = channels.service.validate_contact(
            {"channel": "sms", "contact_type": "child_about_self", "outcome": "support_given"},
            "child",
        )
        _c, case = channels.end(
            s, conv, data, counsellor="cora", cipher=cipher(), taxonomy=TAXONOMY
        )
        assert case is not None
        cases.update_case(s, case, actor="user:cora", cipher=cipher(), summary="synthetic sum")
        cases.add_task(
            s,
            case,
            title="synthetic task",
            due_at=datetime(2025, 3, 9, tzinfo=UTC),
            actor="user:cora",
            cipher=cipher(),
        )
        case_id, conv_id = case.id, conv.id
    with transaction(session_factory) as s:
        anonymise_expired(s, retention_days=365, now=datetime(2026, 6, 1, tzinfo=UTC))
    with transaction(session_factory) as s:
        case = s.get(HelplineCase, case_id)
        conv2 = s.get(Conversation, conv_id)
        assert case is not None and conv2 is not None
        assert case.anonymised_at is not None and case.summary_enc is None
        assert case.caller_key is None and case.counsellor is None
        assert case.status == CaseStatus.CLOSED and case.opened_at == datetime(
            2025, 3, 1, tzinfo=UTC
        )
        assert all(t.title_enc is None and t.created_by is None for t in case.tasks)
        assert conv2.anonymised_at is not None and conv2.messages == []
        assert conv2.caller_key is None and conv2.counsellor is None
        assert len(case.links) == 1  # the anonymised contact still counts in the case
        assert s.execute(select(func.count()).select_from(ConversationMessage)).scalar() == 0


def test_reply_address_of_an_abandoned_conversation_is_erased(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    keys = CallerKeys(bytes(range(32)))
    then = make_sessionmaker(engine, FixedClock(datetime(2026, 5, 1, 9, tzinfo=UTC)))
    with transaction(then) as s:
        conv_id = channels.receive_provider_message(
            s,
            channel="whatsapp",
            identity="tel:+447700900123",
            reply_to="+447700900123",
            body="synthetic",
            provider_id="W1",
            keys=keys,
            cipher=cipher(),
        ).conversation.id
    with transaction(session_factory) as s:
        anonymise_expired(s, retention_days=365, now=datetime(2026, 5, 5, tzinfo=UTC))
        conv = s.get(Conversation, conv_id)
        assert conv is not None and conv.reply_to_enc is not None  # 4 days: kept
    with transaction(session_factory) as s:
        anonymise_expired(s, retention_days=365, now=datetime(2026, 5, 9, tzinfo=UTC))
        conv = s.get(Conversation, conv_id)
        assert conv is not None and conv.reply_to_enc is None  # 8 days silent: erased
        assert conv.messages and conv.anonymised_at is None  # the transcript stays


def test_channels_are_closed_unless_enabled(client: TestClient) -> None:
    # Default settings: web chat only; the SMS webhook does not exist for callers.
    data, headers = signed_form(SMS_URL, sms_fields("+447700900123", "x", "SM1"))
    r = client.post("/helpline/webhooks/sms", content=data, headers=headers)
    assert r.status_code == 404 and "not enabled" in r.json()["error"]
    assert client.get("/helpline/chat/child").status_code == 200


def test_contact_page_adds_a_contact_to_a_case(
    counsellor: tuple[TestClient, str], session_factory: sessionmaker[Session]
) -> None:
    client, csrf = counsellor
    with transaction(session_factory) as s:
        cid = record(s, child_input(), counsellor="cora").id
    page = client.get(f"/console/helpline/contacts/{cid}")
    assert 'id="case-link-form"' in page.text
    r = client.post(
        f"/console/helpline/contacts/{cid}/case",
        data={"csrf_token": csrf_of(page.text), "case_id": ""},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "msg=case_linked" in r.headers["location"]
    again = client.post(
        f"/console/helpline/contacts/{cid}/case", data={"csrf_token": csrf, "case_id": "x1"}
    )
    assert again.status_code == 400

"""Appeals: a site owner contests a listed URL (no-JS form); a supervisor decides; audited."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.audit.models import AuditEntry
from openhotline.blocklist import service
from openhotline.blocklist.models import Appeal, ListKind
from openhotline.blocklist.tasks import send_appeal_reply
from openhotline.bootstrap import build as build_services
from openhotline.config import Settings
from openhotline.jobs.queue import build_queue
from tests.blocklist.helpers import confirmed_case
from tests.console_fixtures import Staff, login
from tests.pipeline_support import MailSink


def test_appeal_upheld_delists_and_is_audited(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as s:
        confirmed_case(s, "http://owner.example.test/page")
        confirmed_case(s, "http://other.example.test/x")
        service.publish_lists(s)
    public = new_client()
    assert "<script" not in public.get("/appeal").text
    # No list-membership oracle: an unlisted URL is accepted and answered like a listed one.
    unlisted = public.post(
        "/appeal", data={"url": "http://nowhere.example.test/", "reason": "mine"}
    )
    assert unlisted.status_code == 200 and "not on" not in unlisted.text
    r = public.post("/appeal", data={"url": "http://owner.example.test/page", "reason": " "})
    assert r.status_code == 400 and "say why" in r.text
    r = public.post("/appeal", data={"url": "javascript:x", "reason": "x"})
    assert r.status_code == 400
    r = public.post(
        "/appeal", data={"url": "HTTP://OWNER.example.test/page", "reason": "content removed"}
    )
    assert r.status_code == 200
    reference = re.search(r'id="reference">([^<]+)<', r.text)
    assert reference
    other_ref = re.search(r'id="reference">([^<]+)<', unlisted.text)
    assert other_ref
    assert unlisted.text.replace(other_ref[1], "REF") == r.text.replace(reference[1], "REF")

    sup = new_client()
    csrf = login(sup, make_user("sue", "supervisor"))
    page = sup.get("/console/appeals")
    assert reference[1] in page.text
    with session_factory() as s:
        appeal_id = s.execute(
            select(Appeal.id).where(Appeal.reference == reference[1])
        ).scalar_one()
    r = sup.post(
        f"/console/appeals/{appeal_id}/decide",
        data={"csrf_token": csrf, "decision": "uphold", "note": ""},
    )
    assert r.status_code == 400 and "note" in r.text
    r = sup.post(
        f"/console/appeals/{appeal_id}/decide",
        data={"csrf_token": csrf, "decision": "uphold", "note": "verified gone"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    # The appeal's own flash message, not the grading one ("The item is decided").
    flashed = sup.get(r.headers["location"]).text
    assert "Appeal decided." in flashed and "item is decided" not in flashed
    r = sup.post(
        f"/console/appeals/{appeal_id}/decide",
        data={"csrf_token": csrf, "decision": "reject", "note": "again"},
    )
    assert r.status_code == 409
    analyst = new_client()
    login(analyst, make_user("ann", "analyst"))
    assert analyst.get("/console/appeals").status_code == 403

    with session_factory.begin() as s:
        v2 = service.publish_lists(s)[ListKind.URLS]
        urls = [r[1] for r in service.snapshot_rows(s, ListKind.URLS, v2.version)]
    assert urls == ["http://other.example.test/x"]
    with session_factory() as s:
        decided = s.execute(
            select(AuditEntry).where(AuditEntry.action == "appeal.decide")
        ).scalar_one()
    assert decided.actor == "user:sue" and "upheld" in decided.details


def test_decision_is_mailed_then_the_address_is_erased(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    settings: Settings,
) -> None:
    sink = MailSink().start()
    s_cfg = settings.model_copy(update={"smtp_port": sink.port, "job_backoff_seconds": 0.1})
    services = build_services(s_cfg)
    try:
        with services.sessionmaker.begin() as s:
            confirmed_case(s, "http://owner.example.test/page")
            service.publish_lists(s)
        public = new_client()
        for url in ("http://owner.example.test/page", "http://nowhere.example.test/"):
            r = public.post(
                "/appeal",
                data={"url": url, "reason": "content removed", "contact_email": "me@owner.test"},
            )
            assert r.status_code == 200 and "write to you" in r.text
        sup = new_client()
        csrf = login(sup, make_user("sue", "supervisor"))
        with services.sessionmaker() as s:
            ids = list(s.execute(select(Appeal.id).order_by(Appeal.id)).scalars())
        for appeal_id, decision in zip(ids, ("uphold", "reject"), strict=True):
            r = sup.post(
                f"/console/appeals/{appeal_id}/decide",
                data={"csrf_token": csrf, "decision": decision, "note": "checked"},
                follow_redirects=False,
            )
            assert r.status_code == 303
        page = sup.get("/console/appeals").text
        assert page.count("reply queued") == 2 and "not listed when filed" not in page
        # No SMTP inside the request: the worker sends.
        assert sink.messages == []
        build_queue(services, name=f"appeals{uuid.uuid4().hex[:8]}").drain()
        assert sorted(m[0][0] for m in sink.messages) == ["me@owner.test", "me@owner.test"]
        bodies = [m[1].get_content() for m in sink.messages]
        assert any("was accepted" in b for b in bodies)
        assert any("not accepted" in b for b in bodies)
        with services.sessionmaker() as s:
            rows = list(s.execute(select(Appeal)).scalars())
            replies = s.execute(select(AuditEntry).where(AuditEntry.action == "appeal.reply")).all()
        assert all(a.contact_email is None and a.replied_at is not None for a in rows)
        assert len(replies) == 2
        assert sup.get("/console/appeals").text.count("reply sent") == 2
        # Re-running the job sends nothing more (the address is gone).
        send_appeal_reply(services, {"appeal_id": ids[0]})
        assert len(sink.messages) == 2
    finally:
        services.close()
        sink.stop()

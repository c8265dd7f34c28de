"""Appeals: a site owner contests a listed URL (no-JS form); a supervisor decides; audited."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.audit.models import AuditEntry
from openhotline.blocklist import service
from openhotline.blocklist.models import Appeal, ListKind
from tests.blocklist.helpers import confirmed_case
from tests.console_fixtures import Staff, login


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
    r = public.post("/appeal", data={"url": "http://nowhere.example.test/", "reason": "mine"})
    assert r.status_code == 404 and "not on the current URL list" in r.text
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

    sup = new_client()
    csrf = login(sup, make_user("sue", "supervisor"))
    page = sup.get("/console/appeals")
    assert reference[1] in page.text
    with session_factory() as s:
        appeal_id = s.execute(select(Appeal.id)).scalar_one()
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

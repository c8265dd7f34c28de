"""Evidence upload: analysts (console) and partners (API, scoped) add files to a case."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.assessment import service as assessment
from openhotline.assessment.banks import map_bank_classes
from openhotline.audit import service as audit
from openhotline.cases.models import Case, CaseEvent, CaseEventKind, CaseStatus
from openhotline.db import transaction
from openhotline.matching import service as banks
from openhotline.matching.models import HashType
from openhotline.matching.policy import BankPolicy
from openhotline.media.models import CaseItem, Item, ItemStatus
from openhotline.partners import service as partners
from tests.case_support import walk_to
from tests.console.browser import (  # noqa: F401 - fixtures
    Analyst,
    LiveServer,
    browser,
    live_server,
)
from tests.console_fixtures import Items, Staff, login
from tests.pipeline_support import make_image

PHOTO = make_image(7, size=(120, 90))


def _key(factory: sessionmaker[Session], *scopes: str) -> dict[str, str]:
    with transaction(factory) as s:
        org = partners.create_org(s, "Partner Hotline", "hotline", "NL", actor="test")
        _key_row, token = partners.create_key(s, org, list(scopes), actor="test")
    return {"Authorization": f"Bearer {token}"}


def _upload(client: TestClient, case_id: int, data: bytes, headers: dict[str, str]) -> Any:
    return client.post(
        f"/api/v1/cases/{case_id}/evidence",
        files={"file": ("../../etc/photo\u202e.png", data, "image/png")},
        headers=headers,
    )


def test_partner_upload_is_hashed_encrypted_queued_and_audited(
    console_app: TestClient,
    items: Items,
    session_factory: sessionmaker[Session],
    console_settings: Any,
) -> None:
    case_id = items.case("http://example.test/evidence")
    headers = _key(session_factory, "evidence.upload")
    response = _upload(console_app, case_id, PHOTO, headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["sha256"] == hashlib.sha256(PHOTO).hexdigest()
    assert body["media_type"] == "image/png" and body["created"] and not body["known"]
    with session_factory() as s:
        item = s.get(Item, body["item_id"])
        assert item is not None and item.source == "partner:Partner Hotline"
        assert item.pdq and item.md5 == hashlib.md5(PHOTO, usedforsecurity=False).hexdigest()
        link = s.execute(select(CaseItem).where(CaseItem.case_id == case_id)).scalar_one()
        assert link.media_url == "upload: photo.png"  # no path, no bidi control
        kinds = [e.kind for e in s.execute(select(CaseEvent)).scalars()]
        assert CaseEventKind.EVIDENCE_UPLOADED in kinds
        (entry,) = [e for e in audit.recent(s) if e.action == "evidence.upload"]
        assert entry.actor == "partner:Partner Hotline" and entry.target == f"case:{case_id}"
    # Encrypted at rest: the plaintext is nowhere on disk.
    media_dir = console_settings.data_dir / "media"
    blobs = [p.read_bytes() for p in media_dir.rglob("*") if p.is_file()]
    assert blobs and all(PHOTO not in b for b in blobs)
    # Queued like captured media.
    with transaction(session_factory) as s:
        assert assessment.route_new_items(s) == (0, 1)


def test_upload_matching_the_bank_is_assessed_automatically(
    console_app: TestClient, items: Items, session_factory: sessionmaker[Session]
) -> None:
    case_id = items.case("http://example.test/known")
    with transaction(session_factory) as s:
        walk_to(s, s.get(Case, case_id), CaseStatus.TRIAGE)  # type: ignore[arg-type]
        bank = banks.create_bank(s, "partner-list")
        digest = hashlib.sha256(PHOTO).hexdigest()
        banks.add_entry(s, bank, HashType.SHA256, digest, "partner", "A")
        # Only a bank an admin trusts, with its classes mapped, assesses automatically.
        map_bank_classes(s, "partner-list", {"A": "baseline"}, "default", "admin:test")
        banks.set_policy(s, bank, BankPolicy.AUTO_ASSESS, "admin:test")
    response = _upload(console_app, case_id, PHOTO, _key(session_factory, "evidence.upload"))
    assert response.status_code == 201 and response.json()["known"] is True
    with session_factory() as s:
        item = s.get(Item, response.json()["item_id"])
        assert item is not None and item.status == ItemStatus.AUTO_ASSESSED
        case = s.get(Case, case_id)
        assert case is not None and case.status == CaseStatus.ASSESSED


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"", 422, "empty"),
        (b"just some text, not media" * 40, 422, "not an image or video"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 600, 422, "cannot read this image"),
    ],
)
def test_bad_uploads_get_a_clear_error(
    console_app: TestClient,
    items: Items,
    session_factory: sessionmaker[Session],
    data: bytes,
    status: int,
    words: str,
) -> None:
    case_id = items.case("http://example.test/bad")
    response = _upload(console_app, case_id, data, _key(session_factory, "evidence.upload"))
    assert response.status_code == status and words in response.text
    with session_factory() as s:
        assert s.execute(select(Item)).first() is None


def test_upload_needs_the_scope_a_case_and_an_open_case(
    console_app: TestClient, items: Items, session_factory: sessionmaker[Session]
) -> None:
    case_id = items.case("http://example.test/scope")
    no_scope = _key(session_factory, "reports.submit")
    assert _upload(console_app, case_id, PHOTO, no_scope).status_code == 403
    assert _upload(console_app, case_id, PHOTO, {}).status_code == 401
    with transaction(session_factory) as s:
        org = partners.find_org(s, "Partner Hotline")
        _row, token = partners.create_key(s, org, ["evidence.upload"], actor="test")
    headers = {"Authorization": f"Bearer {token}"}
    assert _upload(console_app, 999_999, PHOTO, headers).status_code == 404
    with transaction(session_factory) as s:
        walk_to(s, s.get(Case, case_id), CaseStatus.CLOSED)  # type: ignore[arg-type]
    closed = _upload(console_app, case_id, PHOTO, headers)
    assert closed.status_code == 409 and "closed" in closed.text
    raw = console_app.post(
        f"/api/v1/cases/{case_id}/evidence",
        content=PHOTO,
        headers={**headers, "content-type": "image/png"},
    )
    assert raw.status_code == 415


@pytest.mark.browser
def test_an_analyst_uploads_evidence_in_the_browser(
    browser: Any,  # noqa: F811
    live_server: LiveServer,  # noqa: F811
    make_user: Callable[..., Staff],
    items: Items,
    session_factory: sessionmaker[Session],
    tmp_path: Any,
) -> None:
    case_id = items.case("http://example.test/browser-upload")
    path = tmp_path / "evidence.png"
    path.write_bytes(PHOTO)
    ana = Analyst(browser, live_server, make_user("ana"))
    ana.login()
    page = ana.page
    page.goto(f"/console/cases/{case_id}")
    page.set_input_files("#evidence-file", str(path))
    page.click("#evidence-submit")
    page.wait_for_url(f"**/console/cases/{case_id}?msg=evidence_added")
    assert "Evidence file added" in page.inner_text("#flash")
    assert "upload: evidence.png" in page.content()
    with session_factory() as s:
        item = s.execute(select(Item)).scalar_one()
        assert item.source == "upload:ana"
    ana.close()


@pytest.mark.parametrize("role", ["admin", "counsellor"])
def test_roles_that_do_not_assess_cannot_upload(
    new_client: Callable[[], TestClient], make_user: Callable[..., Staff], items: Items, role: str
) -> None:
    case_id = items.case("http://example.test/refused-upload")
    client = new_client()
    csrf = login(client, make_user("someone", role))
    response = client.post(
        f"/console/cases/{case_id}/evidence",
        data={"csrf_token": csrf},
        files={"file": ("a.png", PHOTO, "image/png")},
        follow_redirects=False,
    )
    assert response.status_code == 403


def test_upload_to_a_case_not_yet_captured_still_gets_it_crawled(
    console_app: TestClient, items: Items, session_factory: sessionmaker[Session]
) -> None:
    from openhotline.assessment import service as assessment_service
    from openhotline.jobs.models import Job

    case_id = items.case("http://example.test/not-yet-crawled")
    response = _upload(console_app, case_id, PHOTO, _key(session_factory, "evidence.upload"))
    assert response.status_code == 201
    with transaction(session_factory) as s:
        assessment_service.route_new_items(s)  # moves the case out of NEW (triage)
    with session_factory() as s:
        keys = [(j.kind, j.dedupe_key) for j in s.execute(select(Job)).scalars()]
        assert ("capture.case", f"capture:{case_id}") in keys

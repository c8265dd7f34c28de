"""Report Remove console steps over HTTP: refusals answer in words, declines shred the image."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.config import Settings
from openhotline.reportremove.models import RemovalRequest, RemovalStatus
from tests.console_fixtures import Staff, login, png_bytes


def _upload(client: TestClient) -> None:
    answer = client.post("/report-remove", files={"file": ("me.png", png_bytes(2), "image/png")})
    assert answer.status_code == 200


def _row(factory: sessionmaker[Session]) -> RemovalRequest:
    with factory() as s:
        return s.scalars(select(RemovalRequest)).one()


def test_console_steps_refuse_in_words_and_decline_deletes_the_image(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
    console_settings: Settings,
) -> None:
    public = new_client()
    _upload(public)
    row = _row(session_factory)
    base = f"/console/report-remove/{row.id}"
    store = console_settings.data_dir / "report-remove"
    assert row.blob_id and (store / row.blob_id).exists()

    cora = new_client()
    csrf = login(cora, make_user("cora", "counsellor"))
    queue = cora.get("/console/report-remove/")
    assert queue.status_code == 200 and base in queue.text
    missing = cora.get("/console/report-remove/", params={"reference": "0000-0000-0000-0000-0000"})
    assert missing.status_code == 404 and 'id="not-found"' in missing.text
    half = cora.post(
        f"{base}/confirm", data={"csrf_token": csrf, "method": "chat", "under_18": "1"}
    )
    assert half.status_code == 400 and "under 18 and who they are" in half.text
    no_csrf = cora.post(f"{base}/decline", data={"reason": "no_contact"})
    assert no_csrf.status_code == 403
    assert cora.get(f"{base}/preview").status_code == 403

    ana = new_client()
    ana_csrf = login(ana, make_user("ana", "analyst"))
    early = ana.post(f"{base}/verify", data={"csrf_token": ana_csrf, "classification": "baseline"})
    assert early.status_code == 409 and "this request is received" in early.text
    assert ana.post(f"{base}/confirm", data={"csrf_token": ana_csrf}).status_code == 403

    done = cora.post(
        f"{base}/decline", data={"csrf_token": csrf, "reason": "no_contact"}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"].endswith("msg=declined")
    again = cora.post(f"{base}/decline", data={"csrf_token": csrf, "reason": "no_contact"})
    assert again.status_code == 409
    after = _row(session_factory)
    assert after.status == RemovalStatus.DECLINED and after.image_key is None
    assert not (store / row.blob_id).exists()
    assert ana.get(f"{base}/preview").status_code == 404
    assert ana.get("/console/report-remove/999999").status_code == 404

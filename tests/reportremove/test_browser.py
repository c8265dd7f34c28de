"""Report Remove end to end in a real browser: a young person uploads a generated picture, a
counsellor confirms, an analyst verifies, the hashes reach the published list a platform
downloads, and the picture and its key are gone. Debian's chromium, never a download."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.blocklist.tasks import rebuild_lists
from openhotline.config import Settings
from openhotline.partners import service as partners
from openhotline.reportremove.models import RemovalRequest, RemovalStatus
from tests.console.browser import (  # noqa: F401 - fixtures
    Analyst,
    LiveServer,
    browser,
    live_server,
)
from tests.console_fixtures import Staff, png_bytes, sha256_hex

pytestmark = pytest.mark.browser


def test_report_remove_from_upload_to_published_hashes_with_the_image_gone(
    browser: Any,  # noqa: F811
    live_server: LiveServer,  # noqa: F811
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
    console_settings: Settings,
) -> None:
    started = time.monotonic()
    picture = png_bytes(11)
    store_dir = console_settings.data_dir / "report-remove"

    # The young person, from the public home page, without logging in.
    child = browser.new_context(base_url=live_server.base, java_script_enabled=False)
    page = child.new_page()
    page.goto("/")
    page.click("#report-remove")
    page.wait_for_url("**/report-remove")
    assert page.locator("#leave-quickly").count() == 1
    page.set_input_files("#file", {"name": "me.png", "mimeType": "image/png", "buffer": picture})
    page.click("#send")
    reference = page.inner_text("#reference").strip()
    secret = page.inner_text("#secret").strip()
    assert reference and secret and reference != secret
    with session_factory() as s:
        row = s.scalars(select(RemovalRequest)).one()
        request_id, blob_id = row.id, row.blob_id
        assert row.sha256 == sha256_hex(picture) and row.image_key
    assert blob_id and (store_dir / blob_id).exists()

    # The counsellor, from the helpline's console page, by the reference the child gives.
    cora = Analyst(browser, live_server, make_user("cora", "counsellor"))
    cora.login()
    cp = cora.page
    cp.goto("/console/helpline/")
    cp.click("#go-report-remove")
    cp.fill("#reference", reference.lower())
    cp.click("#find")
    cp.wait_for_url(f"**/console/report-remove/{request_id}")
    assert cp.locator("#preview").count() == 0  # counsellors never see the picture
    assert cp.context.request.get(f"/console/report-remove/{request_id}/preview").status == 403
    cp.select_option("#method", "chat")
    cp.check("#under-18")
    cp.check("#identity")
    cp.click("#confirm")
    cp.wait_for_url("**msg=confirmed")
    assert "identity_confirmed" in cp.inner_text("#status")

    # The analyst: blurred preview, reveal (budgeted), verify with the scheme.
    ana = Analyst(browser, live_server, make_user("ana", "analyst"))
    ana.login()
    ap = ana.page
    ap.click("#nav-report-remove")
    ap.click(".verify-link")
    ap.wait_for_url(f"**/console/report-remove/{request_id}")
    grey = _is_grey(ana, request_id)
    assert grey
    ap.click("#reveal")
    ap.wait_for_selector("#hide")
    assert not _is_grey(ana, request_id)
    ap.select_option("#classification", "baseline")
    ap.click("#verify")
    ap.wait_for_url("**msg=shared")
    assert "completed" in ap.inner_text("#status")
    assert "deleted" in ap.inner_text("#image-state")

    # The image and its key are gone: on disk and in the database.
    assert not (store_dir / blob_id).exists()
    assert [p.name for p in store_dir.iterdir() if not p.name.startswith(".")] == []
    with session_factory() as s:
        row = s.get(RemovalRequest, request_id)
        assert row is not None and row.status == RemovalStatus.COMPLETED
        assert row.image_key is None and row.blob_id is None and row.image_deleted_at
        md5, pdq = row.md5, row.pdq

    # The lists are published (what the queued lists.publish job runs), and a platform
    # downloads the hash list over HTTP with its own key.
    versions = rebuild_lists(session_factory, console_settings)
    with session_factory.begin() as s:
        org = partners.create_org(s, "Example Platform", "platform", None, actor="t")
        _key, token = partners.create_key(s, org, ["hashes.read"], actor="t")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=live_server.base, headers=headers, timeout=10) as http:
        info = http.get("/api/v1/lists/hashes")
        assert info.status_code == 200, info.text
        assert info.json()["version"] == versions["hashes"]
        snap = http.get(f"/api/v1/lists/hashes/snapshot/{versions['hashes']}.json")
        assert snap.status_code == 200, snap.text
    listed = {e["sha256"]: e for e in json.loads(snap.content)["entries"]}
    entry = listed[sha256_hex(picture)]
    assert entry["md5"] == md5 and entry["pdq"] == pdq and entry["classification"]

    # The young person follows it to the end, and is pointed back to support.
    page.goto("/report-remove/status")
    page.fill("#reference", reference)
    page.fill("#secret", secret)
    page.click("#check")
    done = page.locator("#progress li.done")
    assert done.count() == 5
    assert "Done" in page.inner_text("#outcome")
    assert page.locator("#support").count() == 1
    for user in (cora, ana):
        user.close()
    child.close()
    assert time.monotonic() - started < 60


def _is_grey(user: Analyst, request_id: int) -> bool:
    import io

    from PIL import Image, ImageChops

    response = user.context.request.get(f"{user.base}/console/report-remove/{request_id}/preview")
    assert response.status == 200, response.status
    r, g, b = Image.open(io.BytesIO(response.body())).convert("RGB").split()
    return all(ImageChops.difference(r, x).getextrema()[1] <= 3 for x in (g, b))

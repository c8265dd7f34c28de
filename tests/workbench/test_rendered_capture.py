"""Rendered capture: Chromium whose only way out is the safe fetcher, against local pages."""

from __future__ import annotations

import gzip
import hashlib
import io
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.bootstrap import build as build_services
from openhotline.capture import recapture
from openhotline.capture.fetch import FetchLimits, SafeFetcher
from openhotline.capture.models import ArtifactKind, CaptureArtifact
from openhotline.capture.render import RenderLimits, render, unavailable_reason
from openhotline.cases.models import CaseEvent, CaseEventKind
from openhotline.clock import SYSTEM_CLOCK
from openhotline.config import Settings
from openhotline.db import transaction
from openhotline.errors import UnavailableError
from openhotline.jobs.queue import build_queue
from openhotline.media.models import CaseItem, Item
from openhotline.net.guard import AddressGuard, StaticResolver, parse_networks
from tests.console.browser import (  # noqa: F401 - fixtures
    Analyst,
    LiveServer,
    browser,
    live_server,
)
from tests.console_fixtures import Items, Staff, login
from tests.pipeline_support import LocalSite, Page, make_image

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))
HOSTS = {"host-a.test": ["127.0.0.1"]}
SHOWN = make_image(51, size=(160, 120))
LATE = make_image(52, size=(160, 120))
ICON = make_image(53, size=(16, 16))


class Listener:
    """A TCP port on 127.0.0.2 (outside the allow-list) that records every connection."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.2", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def stop(self) -> None:
        self.stopped = True
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def site() -> Iterator[LocalSite]:
    s = LocalSite().start()
    yield s
    s.stop()


@pytest.fixture
def outside() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.stop()


def _js_page(site: LocalSite, outside: Listener) -> str:
    other = f"127.0.0.2:{outside.port}"
    site.html(
        "/gallery",
        f"""<!doctype html><html><head><link rel="stylesheet" href="/s.css"></head><body>
        <h1>Gallery</h1><img src="/shown.png"><img src="/icon.png">
        <img src="http://{other}/direct.png"><iframe src="http://{other}/frame"></iframe>
        <script src="/app.js"></script>
        <script>
        try {{ new WebSocket("ws://{other}/socket"); }} catch (e) {{}}
        fetch("http://{other}/beacon", {{mode: "no-cors"}}).catch(() => {{}});
        if (navigator.serviceWorker) navigator.serviceWorker.register("/sw.js").catch(() => {{}});
        </script></body></html>""",
    )
    site.pages["/s.css"] = Page(b"h1 { color: #333 }", content_type="text/css")
    # The image exists only once JavaScript runs.
    site.pages["/app.js"] = Page(
        b"""document.addEventListener('DOMContentLoaded', function () {
            var img = new Image(); img.src = '/late.png'; img.id = 'late';
            document.body.appendChild(img);
        });""",
        content_type="application/javascript",
    )
    site.media("/shown.png", SHOWN)
    site.media("/late.png", LATE)
    site.media("/icon.png", ICON)
    return site.url("/gallery", "host-a.test")


def _fetcher() -> SafeFetcher:
    guard = AddressGuard(StaticResolver(HOSTS), parse_networks(["127.0.0.1/32"]))
    return SafeFetcher(guard, FetchLimits(timeout=3.0))


def test_render_runs_javascript_and_opens_no_connection_of_its_own(
    site: LocalSite, outside: Listener
) -> None:
    url = _js_page(site, outside)
    with _fetcher() as fetcher:
        result = render(fetcher, url, RenderLimits(seconds=20), clock=SYSTEM_CLOCK)
    bodies = {hashlib.sha256(m.body).hexdigest() for m in result.media}
    assert hashlib.sha256(LATE).hexdigest() in bodies  # shown only after JavaScript ran
    assert hashlib.sha256(SHOWN).hexdigest() in bodies
    assert 'id="late"' in result.html
    # Nothing reached the address outside the allow-list: not the image, frame, fetch or
    # websocket; the fetcher refused what the router saw, the browser opened nothing itself.
    assert outside.connections == 0
    assert any("127.0.0.2" in b for b in result.blocked)
    paths = {p for _h, p in site.requests}
    assert {"/gallery", "/app.js", "/s.css", "/late.png"} <= paths
    assert "/sw.js" not in paths  # service workers blocked
    shot = Image.open(io.BytesIO(result.screenshot))
    assert shot.format == "PNG" and shot.width == 1280
    from warcio.archiveiterator import ArchiveIterator

    records = list(ArchiveIterator(io.BytesIO(result.warc)))
    kinds = [r.rec_type for r in records]
    assert kinds[0] == "warcinfo" and "request" in kinds and "resource" in kinds
    responses = [
        r.rec_headers.get_header("WARC-Target-URI") for r in records if r.rec_type == "response"
    ]
    assert url in responses and site.url("/late.png", "host-a.test") in responses
    assert gzip.decompress(result.warc).startswith(b"WARC/1.")  # gzipped per record


def test_render_keeps_its_budgets(site: LocalSite, outside: Listener) -> None:
    url = _js_page(site, outside)
    with _fetcher() as fetcher:
        result = render(fetcher, url, RenderLimits(seconds=20, max_requests=1), clock=SYSTEM_CLOCK)
    assert [e.url for e in result.exchanges] == [url]
    assert any("request budget" in b for b in result.blocked)
    assert result.media == []


def test_render_job_stores_screenshot_html_warc_and_media(
    settings: Settings,
    session_factory: sessionmaker[Session],
    items: Items,
    site: LocalSite,
    outside: Listener,
) -> None:
    url = _js_page(site, outside)
    case_id = items.case(url)
    s = settings.model_copy(
        update={"crawler_allow_networks": ["127.0.0.1/32"], "dns_overrides": HOSTS}
    )
    with transaction(session_factory) as session:
        recapture.request_render(session, case_id, "user:ana", unavailable=None)
    rt = build_services(s)
    queue = build_queue(rt, name=f"t{uuid.uuid4().hex[:8]}")
    queue.drain()
    with session_factory() as session:
        links = list(session.execute(select(CaseItem).where(CaseItem.case_id == case_id)).scalars())
        urls = sorted(link.media_url or "" for link in links)
        assert any(u.startswith("screenshot: ") for u in urls)
        assert site.url("/late.png", "host-a.test") in urls
        assert site.url("/icon.png", "host-a.test") not in urls  # filtered, not stored
        rendered = [i for i in session.execute(select(Item)).scalars() if i.source == "render"]
        assert len(rendered) >= 3
        artifacts = list(session.execute(select(CaptureArtifact)).scalars())
        assert {a.kind for a in artifacts} == {ArtifactKind.WARC, ArtifactKind.HTML}
        html = next(a for a in artifacts if a.kind == ArtifactKind.HTML)
        assert b'id="late"' in rt.media_store.get(html.storage_key)
        kinds = [e.kind for e in session.execute(select(CaseEvent)).scalars()]
        assert CaseEventKind.RECAPTURE_REQUESTED in kinds and CaseEventKind.RENDERED in kinds
        assert CaseEventKind.MEDIA_FILTERED in kinds
    blobs = [p.read_bytes() for p in (s.data_dir / "media").rglob("*") if p.is_file()]
    assert all(LATE not in b and b"<h1>Gallery" not in b for b in blobs)  # encrypted
    assert outside.connections == 0
    rt.close()


def test_without_chromium_the_mode_says_it_is_unavailable(
    items: Items, session_factory: sessionmaker[Session]
) -> None:
    reason = unavailable_reason("/nonexistent/chromium")
    assert reason is not None and "unavailable" in reason
    case_id = items.case("http://example.test/no-chromium")
    with transaction(session_factory) as s, pytest.raises(UnavailableError, match="unavailable"):
        recapture.request_render(s, case_id, "user:ana", unavailable=reason)


def test_console_and_api_recapture_without_chromium(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    items: Items,
    console_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case_id = items.case("http://example.test/unavailable")
    client = new_client()
    csrf = login(client, make_user("ana"))
    monkeypatch.setattr(console_settings, "render_chromium_path", "/nonexistent/chromium")
    page = client.post(f"/console/cases/{case_id}/recapture", data={"csrf_token": csrf})
    assert page.status_code == 503 and "rendered capture is unavailable" in page.text
    api = client.post(f"/api/v1/cases/{case_id}/recapture", headers={"X-CSRF-Token": csrf})
    assert api.status_code == 503 and "unavailable" in api.text


@pytest.mark.parametrize("role", ["admin", "counsellor"])
def test_roles_that_do_not_assess_cannot_recapture(
    new_client: Callable[[], TestClient], make_user: Callable[..., Staff], items: Items, role: str
) -> None:
    case_id = items.case("http://example.test/refused-recapture")
    client = new_client()
    csrf = login(client, make_user("someone", role))
    page = client.post(
        f"/console/cases/{case_id}/recapture", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert page.status_code == 403
    api = client.post(f"/api/v1/cases/{case_id}/recapture", headers={"X-CSRF-Token": csrf})
    assert api.status_code == 403


@pytest.mark.browser
def test_an_analyst_queues_a_rendered_recapture_in_the_browser(
    browser: Any,  # noqa: F811
    live_server: LiveServer,  # noqa: F811
    make_user: Callable[..., Staff],
    items: Items,
    session_factory: sessionmaker[Session],
) -> None:
    case_id = items.case("http://example.test/js-player")
    ana = Analyst(browser, live_server, make_user("ana"))
    ana.login()
    ana.page.goto(f"/console/cases/{case_id}")
    ana.page.click("#recapture-submit")
    ana.page.wait_for_url(f"**/console/cases/{case_id}?msg=recapture_queued")
    assert "Rendered capture queued" in ana.page.inner_text("#flash")
    assert "recapture_requested" in ana.page.content()
    ana.close()


def _artifact(items: Items, factory: sessionmaker[Session], case_id: int, data: bytes) -> int:
    digest = hashlib.sha256(data).hexdigest()
    with transaction(factory) as s:
        row = CaptureArtifact(
            case_id=case_id,
            kind=ArtifactKind.WARC,
            url="http://example.test/page",
            sha256=digest,
            size=len(data),
            storage_key=items.store.put(digest, data),
        )
        s.add(row)
        s.flush()
        return int(row.id)


def test_capture_files_are_for_export_roles_and_audited(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    items: Items,
    session_factory: sessionmaker[Session],
) -> None:
    case_id = items.case("http://example.test/page")
    warc = gzip.compress(b"WARC/1.1\r\nWARC-Type: warcinfo\r\n\r\n")
    artifact_id = _artifact(items, session_factory, case_id, warc)
    sue, ana = new_client(), new_client()
    login(sue, make_user("sue", "supervisor"))
    login(ana, make_user("ana"))
    listing = sue.get(f"/console/cases/{case_id}/captures")
    assert listing.status_code == 200 and f'id="file-{artifact_id}"' in listing.text
    got = sue.get(f"/console/captures/{artifact_id}")
    assert got.status_code == 200 and got.content == warc
    assert got.headers["content-type"] == "application/warc"
    assert got.headers["content-disposition"].startswith("attachment;")
    with session_factory() as s:
        from openhotline.audit import service as audit

        entries = [e for e in audit.recent(s) if e.action == "capture.artifact_download"]
        assert [e.actor for e in entries] == ["user:sue"]
    assert ana.get(f"/console/cases/{case_id}/captures").status_code == 403
    assert ana.get(f"/console/captures/{artifact_id}").status_code == 403
    assert sue.get("/console/captures/999999").status_code == 404


@pytest.mark.browser
def test_a_supervisor_lists_capture_files_in_the_browser(
    browser: Any,  # noqa: F811
    live_server: LiveServer,  # noqa: F811
    make_user: Callable[..., Staff],
    items: Items,
    session_factory: sessionmaker[Session],
) -> None:
    case_id = items.case("http://example.test/files")
    artifact_id = _artifact(items, session_factory, case_id, gzip.compress(b"WARC/1.1\r\n\r\n"))
    sue = Analyst(browser, live_server, make_user("sue", "supervisor"))
    sue.login()
    sue.page.goto(f"/console/cases/{case_id}")
    sue.page.click("#capture-files-link")
    sue.page.wait_for_url(f"**/console/cases/{case_id}/captures")
    assert sue.page.locator(f"#file-{artifact_id}").inner_text() == "warc"
    sue.close()


def test_one_response_never_exceeds_the_fetchers_own_limit(
    site: LocalSite, outside: Listener
) -> None:
    url = _js_page(site, outside)
    guard = AddressGuard(StaticResolver(HOSTS), parse_networks(["127.0.0.1/32"]))
    small = min(len(LATE), len(SHOWN)) - 1  # both photos are larger; page and script are not
    with SafeFetcher(guard, FetchLimits(timeout=3.0, max_bytes=small)) as fetcher:
        result = render(fetcher, url, RenderLimits(seconds=20), clock=SYSTEM_CLOCK)
    assert {m.body for m in result.media}.isdisjoint({LATE, SHOWN})
    assert any("larger than" in b for b in result.blocked)

"""Rendered capture: headless Chromium whose only way out is the SSRF-safe fetcher (no DB).

Every request the page makes is intercepted (`context.route("**/*")`) and answered with
bytes fetched by `SafeFetcher` (the address guard, size and time limits); the browser
itself opens no connection: it is pointed at a proxy that does not exist (loopback included)
and resolves no host name, so anything the router cannot see (websockets, prefetch) fails
inside the browser. Service workers are blocked, the context is fresh (no cookies kept) and
JavaScript runs. What comes out: a full-page screenshot, the rendered HTML, the HTTP
exchanges as a WARC file, and the media the page loaded.
"""

from __future__ import annotations

import http
import io
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from openhotline.capture.crawler import CapturedMedia
from openhotline.capture.fetch import FetchError, SafeFetcher
from openhotline.capture.sniff import HTML, OCTET, is_media
from openhotline.clock import Clock

CHROMIUM = "/usr/bin/chromium"
# A port nothing listens on: every connection the browser would open itself goes there and
# fails (routed requests are fulfilled before any connection is made).
DEAD_PROXY = "http://127.0.0.1:9"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-features=DnsOverHttps,NetworkPrediction",
    f"--proxy-server={DEAD_PROXY}",
    "--proxy-bypass-list=<-loopback>",  # loopback goes to the dead proxy too
    "--host-resolver-rules=MAP * ~NOTFOUND",  # and the browser resolves no name itself
)
# What a resource is served as when the bytes do not say (scripts and styles need a type).
TYPE_BY_RESOURCE = {
    "script": "text/javascript",
    "stylesheet": "text/css",
    "document": HTML,
    "font": "font/woff2",
}


class RendererUnavailableError(Exception):
    """Rendered capture cannot run here (no Chromium, or no Playwright); the reason says why."""


@dataclass(frozen=True)
class RenderLimits:
    """Budgets of one rendered capture (from settings)."""

    seconds: float = 30.0
    max_bytes: int = 50 * 1024 * 1024  # every response together
    max_requests: int = 300
    settle_ms: int = 1500  # after load, how long JavaScript may keep adding content
    viewport: tuple[int, int] = (1280, 800)
    max_height: int = 16_000  # pixels of the full-page screenshot


@dataclass
class Exchange:
    """One request the page made and what the safe fetcher answered."""

    url: str
    status: int
    content_type: str
    body: bytes
    at: datetime


@dataclass
class RenderResult:
    """Everything one rendered capture produced."""

    url: str
    final_url: str = ""
    status: int = 0
    html: str = ""
    screenshot: bytes = b""
    warc: bytes = b""
    exchanges: list[Exchange] = field(default_factory=list)
    media: list[CapturedMedia] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)


def unavailable_reason(executable: str = CHROMIUM) -> str | None:
    """Why rendered capture cannot run here, or None when it can."""
    if not os.path.exists(executable):
        return (
            f"rendered capture is unavailable: no Chromium at {executable}"
            " (apt-get install chromium)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "rendered capture is unavailable: the playwright package is not installed"
    return None


def _served_type(sniffed: str, resource_type: str) -> str:
    if sniffed != OCTET:
        return sniffed
    return TYPE_BY_RESOURCE.get(resource_type, OCTET)


class _Router:
    """Answers each browser request through the safe fetcher, within the budgets."""

    def __init__(
        self, fetcher: SafeFetcher, limits: RenderLimits, end: float, clock: Clock
    ) -> None:
        self.fetcher = fetcher
        self.clock = clock
        self.limits = limits
        self.end = end
        self.used = 0
        self.exchanges: list[Exchange] = []
        self.blocked: list[str] = []

    def __call__(self, route: Any, request: Any) -> None:
        url = str(request.url)
        why = self._refusal(url, str(request.method))
        if why:
            self.blocked.append(f"{url[:300]}: {why}")
            route.abort("blockedbyclient")
            return
        try:
            # One response stays within the fetcher's own limit; all of them within the budget.
            room = min(self.fetcher.limits.max_bytes, self.limits.max_bytes - self.used)
            got = self.fetcher.fetch(url, max_bytes=room, deadline=self.end)
        except FetchError as exc:
            self.blocked.append(str(exc)[:500])
            route.abort("blockedbyclient")
            return
        if got.final_url != url:
            # Let the browser follow the redirect the fetcher saw, so relative links resolve
            # against the right page (the next request goes through the fetcher again).
            route.fulfill(status=302, headers={"location": got.final_url}, body=b"")
            return
        self.used += len(got.body)
        served = _served_type(got.media_type, str(request.resource_type))
        self.exchanges.append(Exchange(url, got.status, served, got.body, self.clock.now()))
        route.fulfill(status=got.status, headers={"content-type": served}, body=got.body)

    def _refusal(self, url: str, method: str) -> str:
        if urlsplit(url).scheme not in ("http", "https"):
            return "not http(s)"
        if method not in ("GET", "HEAD"):
            return f"{method} is not sent (evidence capture only reads)"
        if time.monotonic() > self.end:
            return "time budget spent"
        if len(self.exchanges) >= self.limits.max_requests:
            return f"request budget ({self.limits.max_requests}) spent"
        if self.used >= self.limits.max_bytes:
            return f"byte budget ({self.limits.max_bytes}) spent"
        return ""


def render(
    fetcher: SafeFetcher,
    url: str,
    limits: RenderLimits,
    *,
    clock: Clock,
    executable: str = CHROMIUM,
) -> RenderResult:
    """Render url in a fresh headless Chromium context whose only egress is the fetcher."""
    reason = unavailable_reason(executable)
    if reason:
        raise RendererUnavailableError(reason)
    end = time.monotonic() + limits.seconds
    router = _Router(fetcher, limits, end, clock)
    result = RenderResult(url=url)
    # Playwright's sync API refuses to start in a thread that already runs an event loop (an
    # ASGI server, another Playwright); its own thread keeps rendered capture callable anywhere.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="render") as pool:
        pool.submit(_browse, executable, url, limits, router, result, end).result(
            timeout=limits.seconds + 60  # browser start and shutdown on top of the budget
        )
    result.exchanges = router.exchanges
    result.blocked += router.blocked
    if not result.exchanges:
        raise FetchError(
            f"{url}: nothing could be fetched ({'; '.join(result.blocked)[:500]})", permanent=True
        )
    result.media = [
        CapturedMedia(e.url, e.content_type, e.body)
        for e in router.exchanges
        if e.status < 400 and is_media(e.content_type)
    ]
    result.warc = write_warc(result, clock.now())
    return result


def _browse(
    executable: str,
    url: str,
    limits: RenderLimits,
    router: _Router,
    result: RenderResult,
    end: float,
) -> None:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    width, height = limits.viewport
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
        try:
            context = browser.new_context(
                service_workers="block",
                java_script_enabled=True,
                accept_downloads=False,
                viewport={"width": width, "height": height},
            )
            context.route("**/*", router)
            page = context.new_page()
            try:
                response = page.goto(url, wait_until="load", timeout=_ms_left(end))
                result.status = response.status if response is not None else 0
                page.wait_for_load_state("networkidle", timeout=_ms_left(end))
            except PlaywrightError as exc:
                result.blocked.append(f"page load: {str(exc).splitlines()[0][:300]}")
            page.wait_for_timeout(min(limits.settle_ms, _ms_left(end)))
            result.final_url = page.url
            result.html = page.content()
            result.screenshot = _screenshot(page, limits)
            context.close()
        finally:
            browser.close()


def _ms_left(end: float) -> float:
    return max(100.0, (end - time.monotonic()) * 1000)


def _screenshot(page: Any, limits: RenderLimits) -> bytes:
    height = int(page.evaluate("() => document.documentElement.scrollHeight") or 0)
    if height > limits.max_height:
        clip = {"x": 0, "y": 0, "width": limits.viewport[0], "height": limits.max_height}
        return bytes(page.screenshot(full_page=True, clip=clip, type="png"))
    return bytes(page.screenshot(full_page=True, type="png"))


def write_warc(result: RenderResult, when: datetime) -> bytes:
    """The exchanges, the rendered HTML and the screenshot as one gzipped WARC file."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    writer.write_record(
        writer.create_warcinfo_record(
            "capture.warc.gz",
            {
                "software": "openhotline rendered capture",
                "format": "WARC File Format 1.1",
                "description": f"rendered capture of {result.url} at {when.isoformat()}",
                "note": "fetched by the SSRF-safe fetcher; headers as served to the browser",
            },
        )
    )
    for ex in result.exchanges:
        parts = urlsplit(ex.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request = StatusAndHeaders(
            f"GET {target} HTTP/1.1", [("Host", parts.netloc)], is_http_request=True
        )
        writer.write_record(
            writer.create_warc_record(
                ex.url, "request", payload=io.BytesIO(b""), http_headers=request
            )
        )
        try:
            phrase = http.HTTPStatus(ex.status).phrase
        except ValueError:
            phrase = ""
        response = StatusAndHeaders(
            f"{ex.status} {phrase}".strip(),
            [("Content-Type", ex.content_type), ("Content-Length", str(len(ex.body)))],
            protocol="HTTP/1.1",
        )
        writer.write_record(
            writer.create_warc_record(
                ex.url,
                "response",
                payload=io.BytesIO(ex.body),
                http_headers=response,
                warc_headers_dict={"WARC-Date": ex.at.strftime("%Y-%m-%dT%H:%M:%SZ")},
            )
        )
    for uri, ctype, data in (
        (f"urn:openhotline:rendered-html:{result.url}", "text/html", result.html.encode()),
        (f"urn:openhotline:screenshot:{result.url}", "image/png", result.screenshot),
    ):
        writer.write_record(
            writer.create_warc_record(
                uri, "resource", payload=io.BytesIO(data), warc_content_type=ctype
            )
        )
    return buf.getvalue()

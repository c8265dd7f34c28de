"""Crawl one case URL: the page, its media, and same-site pages one level deep (no DB)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from openhotline.capture.fetch import FetchError, SafeFetcher
from openhotline.capture.html import extract, same_site
from openhotline.capture.sniff import HTML, is_media


@dataclass(frozen=True)
class CrawlLimits:
    """Per-case limits (from settings)."""

    max_items: int = 50
    max_pages: int = 10
    max_page_bytes: int = 2 * 1024 * 1024
    max_media_bytes: int = 25 * 1024 * 1024
    case_seconds: float = 60.0
    # All media kept by one capture: what a worker holds in memory for a case, whatever
    # the site serves (50 items of 25 MiB would otherwise be 1.25 GiB).
    max_case_bytes: int = 64 * 1024 * 1024


@dataclass
class CapturedMedia:
    """One media file as served: where, what type (sniffed), the bytes."""

    url: str
    media_type: str
    body: bytes


@dataclass
class CrawlResult:
    """Everything a crawl found, plus what it skipped and why."""

    url: str
    final_url: str = ""
    status: int = 0
    media: list[CapturedMedia] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _media_candidates(html: str, page_url: str, site_url: str) -> tuple[list[str], list[str]]:
    links = extract(html, page_url)
    linked = [u for u in links.linked_media if same_site(u, site_url)]
    pages = [u for u in links.pages if same_site(u, site_url)]
    return links.media + linked, pages


def crawl(fetcher: SafeFetcher, url: str, limits: CrawlLimits) -> CrawlResult:
    """Fetch url and the media it shows; FetchError only when the URL itself fails."""
    end = time.monotonic() + limits.case_seconds
    first_limit = min(limits.max_media_bytes, limits.max_case_bytes)
    first = fetcher.fetch(url, max_bytes=first_limit, deadline=end)
    result = CrawlResult(url=url, final_url=first.final_url, status=first.status)
    if first.status >= 400:
        return result
    if is_media(first.media_type):
        result.media.append(CapturedMedia(first.final_url, first.media_type, first.body))
        return result

    def room() -> int:
        return limits.max_case_bytes - sum(len(m.body) for m in result.media)

    if first.media_type != HTML:
        result.skipped.append(f"{first.final_url}: not HTML or media ({first.media_type})")
        return result
    html = first.body[: limits.max_page_bytes].decode("utf-8", "replace")
    candidates, pages = _media_candidates(html, first.final_url, first.final_url)
    for page in pages[: limits.max_pages]:
        if time.monotonic() > end:
            result.skipped.append(f"{page}: case time limit reached")
            break
        try:
            got = fetcher.fetch(page, max_bytes=limits.max_page_bytes, deadline=end)
        except FetchError as exc:
            result.skipped.append(str(exc))
            continue
        result.pages.append(got.final_url)
        if got.status < 400 and got.media_type == HTML:
            more, _ = _media_candidates(got.body.decode("utf-8", "replace"), got.final_url, url)
            candidates.extend(more)
        elif got.status < 400 and is_media(got.media_type):
            if len(got.body) > room():
                result.skipped.append(f"{got.final_url}: case byte limit reached")
                continue
            result.media.append(CapturedMedia(got.final_url, got.media_type, got.body))
    seen: set[str] = set()
    for media_url in candidates:
        if media_url in seen:
            continue
        seen.add(media_url)
        if len(result.media) >= limits.max_items:
            result.skipped.append(f"item limit {limits.max_items} reached")
            break
        if time.monotonic() > end:
            result.skipped.append("case time limit reached")
            break
        left = room()
        if left <= 0:
            result.skipped.append(f"case byte limit {limits.max_case_bytes} reached")
            break
        try:
            got = fetcher.fetch(
                media_url, max_bytes=min(limits.max_media_bytes, left), deadline=end
            )
        except FetchError as exc:
            budget = f" (case byte limit {limits.max_case_bytes}: {left} bytes left)"
            result.skipped.append(str(exc) + (budget if left < limits.max_media_bytes else ""))
            continue
        if got.status >= 400 or not is_media(got.media_type):
            result.skipped.append(f"{media_url}: HTTP {got.status}, {got.media_type}")
            continue
        result.media.append(CapturedMedia(got.final_url, got.media_type, got.body))
    return result

"""Is the content still online? Re-fetch the URL and the captured items (no DB)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from openhotline.capture.fetch import FetchError, SafeFetcher

GONE_STATUSES = frozenset({404, 410, 451})


class Online(StrEnum):
    """Outcome of a re-check."""

    ONLINE = "online"
    REMOVED = "removed"
    UNKNOWN = "unknown"  # could not tell (timeout, 5xx): try again later


@dataclass
class RecheckResult:
    """The verdict and why."""

    verdict: Online
    detail: str


def recheck(fetcher: SafeFetcher, url: str, items: list[tuple[str, str]]) -> RecheckResult:
    """Check url and each captured (media_url, sha256): removed when none is served any more."""
    try:
        page = fetcher.fetch(url)
    except FetchError as exc:
        if exc.permanent and "does not resolve" in str(exc):  # NXDOMAIN / no records
            return RecheckResult(Online.REMOVED, f"host no longer resolves: {exc}")
        return RecheckResult(Online.UNKNOWN, str(exc))
    if page.status in GONE_STATUSES:
        return RecheckResult(Online.REMOVED, f"URL answers HTTP {page.status}")
    if page.status >= 400:
        return RecheckResult(Online.UNKNOWN, f"URL answers HTTP {page.status}")
    if not items:
        return RecheckResult(Online.ONLINE, f"URL answers HTTP {page.status}")
    page_hash = hashlib.sha256(page.body).hexdigest()
    unknown = []
    for media_url, sha256 in items:
        if page_hash == sha256:
            return RecheckResult(Online.ONLINE, f"{url} still serves item {sha256[:12]}")
        try:
            got = fetcher.fetch(media_url)
        except FetchError as exc:
            unknown.append(str(exc))
            continue
        if got.status < 400 and hashlib.sha256(got.body).hexdigest() == sha256:
            return RecheckResult(Online.ONLINE, f"{media_url} still serves item {sha256[:12]}")
        if got.status >= 500:
            unknown.append(f"{media_url}: HTTP {got.status}")
    if unknown:
        return RecheckResult(Online.UNKNOWN, "; ".join(unknown)[:1000])
    return RecheckResult(Online.REMOVED, "no captured item is served any more")

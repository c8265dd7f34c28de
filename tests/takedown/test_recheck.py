"""Removal re-checks at source: HTTP status, and whether the captured SHA-256 is still served."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from openhotline.capture.fetch import FetchLimits, SafeFetcher
from openhotline.net.guard import (
    AddressGuard,
    ResolutionError,
    Resolver,
    StaticResolver,
    parse_networks,
)
from openhotline.takedown.recheck import Online, RecheckResult, recheck
from tests.pipeline_support import LocalSite, Page, make_image

IMG = make_image(5)
SHA = hashlib.sha256(IMG).hexdigest()


class FailingResolver:
    """A resolver whose DNS servers fail (SERVFAIL)."""

    def resolve(self, host: str) -> list[str]:
        raise ResolutionError(f"DNS failure for {host}", transient=True)


@pytest.fixture
def site() -> Iterator[LocalSite]:
    s = LocalSite().start()
    s.html("/p", '<img src="/i.png">')
    s.media("/i.png", IMG)
    yield s
    s.stop()


def _check(site: LocalSite, resolver: Resolver | None = None) -> RecheckResult:
    guard = AddressGuard(
        resolver or StaticResolver({"h.test": ["127.0.0.1"]}), parse_networks(["127.0.0.1/32"])
    )
    with SafeFetcher(guard, FetchLimits(timeout=2.0)) as fetcher:
        return recheck(fetcher, site.url("/p", "h.test"), [(site.url("/i.png", "h.test"), SHA)])


def test_still_served(site: LocalSite) -> None:
    assert _check(site).verdict == Online.ONLINE


def test_page_gone(site: LocalSite) -> None:
    del site.pages["/p"]
    assert _check(site).verdict == Online.REMOVED


def test_item_gone_page_still_there(site: LocalSite) -> None:
    del site.pages["/i.png"]
    assert _check(site).verdict == Online.REMOVED


def test_item_replaced_by_other_bytes(site: LocalSite) -> None:
    site.media("/i.png", make_image(6))
    assert _check(site).verdict == Online.REMOVED


def test_server_errors_are_unknown(site: LocalSite) -> None:
    site.pages["/i.png"] = Page(b"busy", status=503, content_type="text/plain")
    assert _check(site).verdict == Online.UNKNOWN
    site.pages["/p"] = Page(b"oops", status=500)
    assert _check(site).verdict == Online.UNKNOWN


def test_name_gone_is_removed_but_dns_failure_is_unknown(site: LocalSite) -> None:
    assert _check(site, resolver=StaticResolver({})).verdict == Online.REMOVED
    assert _check(site, resolver=FailingResolver()).verdict == Online.UNKNOWN


def test_site_down_is_unknown(site: LocalSite) -> None:
    site.stop()
    assert _check(site).verdict == Online.UNKNOWN

"""Capture against a local site: media found, limits kept, types sniffed, stored encrypted."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.assessment.models import Assessment, AssessmentKind, ItemReview
from openhotline.bootstrap import build as build_services
from openhotline.capture.crawler import CrawlLimits, crawl
from openhotline.capture.fetch import FetchError, FetchLimits, SafeFetcher
from openhotline.capture.html import extract, same_site
from openhotline.capture.sniff import sniff
from openhotline.cases.models import Case, CaseEvent, CaseStatus
from openhotline.config import Settings
from openhotline.db import transaction
from openhotline.jobs.queue import build_queue
from openhotline.matching import service as banks
from openhotline.matching.models import BankHint, HashType
from openhotline.matching.policy import BankPolicy
from openhotline.media.models import CaseItem, Item, ItemStatus
from openhotline.net.guard import AddressGuard, StaticResolver, parse_networks
from openhotline.reporting.schemas import ReportIn
from openhotline.reporting.service import submit_report
from tests.pipeline_support import LocalSite, Page, make_image

PNG1, PNG2, PNG3 = make_image(1), make_image(2), make_image(3)
JPG4, JPG5 = make_image(4, "JPEG"), make_image(5, "JPEG")
GIF6 = make_image(6, "GIF")
HOSTS = {"host-a.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]}


@pytest.fixture
def site() -> Iterator[LocalSite]:
    s = LocalSite().start()
    yield s
    s.stop()


def _fetcher(timeout: float = 3.0) -> SafeFetcher:
    guard = AddressGuard(StaticResolver(HOSTS), parse_networks(["127.0.0.0/8"]))
    return SafeFetcher(guard, FetchLimits(timeout=timeout))


def _gallery(site: LocalSite) -> None:
    off = site.url("/off.html", "other.test")
    site.html(
        "/gallery",
        f"""<html><body><script>fetch('/js-only.png')</script>
        <img src="/a.png"><img srcset="/b.png 1x, /c.png 2x" src="/a.png">
        <video poster="/poster.gif"><source src="/clip.jpg"></video>
        <a href="/big.jpg">linked media</a><a href="/page2">next</a>
        <a href="{off}">elsewhere</a><a href="javascript:alert(1)">x</a></body></html>""",
    )
    site.media("/a.png", PNG1)
    site.media("/b.png", PNG2)
    site.media("/c.png", PNG3, content_type="text/plain")  # wrong header: sniffed
    site.media("/poster.gif", GIF6, content_type="image/gif")
    site.media("/clip.jpg", JPG4, content_type="image/jpeg")
    site.media("/big.jpg", JPG5, content_type="image/jpeg")
    site.html("/page2", '<img src="/p2.png"><a href="/page3">deeper</a>')
    site.media("/p2.png", make_image(22))
    site.html("/page3", '<img src="/p3.png">')
    site.media("/p3.png", make_image(33))
    site.html("/off.html", '<img src="/off.png">')
    site.media("/js-only.png", make_image(99))


def test_crawl_finds_shown_media_one_level_same_site(site: LocalSite) -> None:
    _gallery(site)
    with _fetcher() as fetcher:
        result = crawl(fetcher, site.url("/gallery", "host-a.test"), CrawlLimits())
    got = {hashlib.sha256(m.body).hexdigest() for m in result.media}
    want = [PNG1, PNG2, PNG3, GIF6, JPG4, JPG5, make_image(22)]
    assert got == {hashlib.sha256(b).hexdigest() for b in want}
    paths = {p for _, p in site.requests}
    assert "/page3" not in paths and "/p3.png" not in paths  # one level only
    assert "/js-only.png" not in paths  # scripts never run
    assert "other.test" not in site.hosts_requested()  # never off the case's site
    assert {m.media_type for m in result.media} >= {"image/png", "image/jpeg", "image/gif"}


def test_crawl_stays_on_the_case_port(site: LocalSite) -> None:
    """Another port of the same host is another site (issue 12: ports were ignored)."""
    other = LocalSite().start()
    try:
        other.html("/page", '<img src="/o.png">')
        other.media("/o.png", PNG2)
        site.html(
            "/p",
            f'<img src="/a.png"><a href="{other.url("/page", "host-a.test")}">x</a>'
            f'<a href="{other.url("/o.png", "host-a.test")}">y</a>',
        )
        site.media("/a.png", PNG1)
        with _fetcher() as fetcher:
            result = crawl(fetcher, site.url("/p", "host-a.test"), CrawlLimits())
        assert [m.body for m in result.media] == [PNG1]
        assert other.requests == []
    finally:
        other.stop()


def test_same_site_compares_ports() -> None:
    assert same_site("http://a.test/x", "https://a.test/y")  # default ports alike
    assert same_site("http://a.test:80/", "http://A.test/")
    assert not same_site("http://a.test:8080/", "http://a.test/")
    assert not same_site("http://a.test:8080/", "http://a.test:8081/")
    assert not same_site("http://a.test:99999/", "http://a.test/")


def test_crawl_item_count_limit(site: LocalSite) -> None:
    _gallery(site)
    with _fetcher() as fetcher:
        result = crawl(fetcher, site.url("/gallery", "host-a.test"), CrawlLimits(max_items=2))
    assert len(result.media) == 2
    assert any("item limit" in s for s in result.skipped)


def test_crawl_size_limit_skips_large_media(site: LocalSite) -> None:
    site.html("/p", '<img src="/small.png"><img src="/huge.png">')
    site.media("/small.png", PNG1)
    site.media("/huge.png", PNG1 + b"\0" * 200_000)
    with _fetcher() as fetcher:
        result = crawl(fetcher, site.url("/p"), CrawlLimits(max_media_bytes=100_000))
    assert [m.body for m in result.media] == [PNG1]
    assert any("larger than" in s for s in result.skipped)


def test_lying_content_type_is_not_media(site: LocalSite) -> None:
    site.html("/p", '<img src="/fake.jpg">')
    site.media("/fake.jpg", b"<html>not an image</html>", content_type="image/jpeg")
    with _fetcher() as fetcher:
        result = crawl(fetcher, site.url("/p"), CrawlLimits())
    assert result.media == []


def test_direct_media_url(site: LocalSite) -> None:
    site.media("/x.png", PNG1, content_type="application/octet-stream")
    with _fetcher() as fetcher:
        result = crawl(fetcher, site.url("/x.png"), CrawlLimits())
    assert [m.media_type for m in result.media] == ["image/png"]


def test_slow_server_hits_time_limit(site: LocalSite) -> None:
    """A server slower than the fetch's wall-clock limit fails that attempt for good (issue
    12: retrying a slow server only held a worker thread longer)."""
    site.pages["/slow"] = Page(b"<p>x</p>", delay=2.0)
    started = time.monotonic()
    with _fetcher(timeout=0.5) as fetcher, pytest.raises(FetchError) as err:
        fetcher.fetch(site.url("/slow"))
    assert err.value.permanent
    assert "time limit" in str(err.value)
    assert time.monotonic() - started < 1.5


def test_sniff_types() -> None:
    assert sniff(PNG1) == "image/png"
    assert sniff(JPG4) == "image/jpeg"
    assert sniff(GIF6) == "image/gif"
    assert sniff(make_image(1, "WEBP")) == "image/webp"
    assert sniff(b"\x00\x00\x00\x18ftypmp42rest") == "video/mp4"
    assert sniff(b"  <!DOCTYPE html><html>") == "text/html"
    assert sniff(b"MZ\x90\x00") == "application/octet-stream"
    assert sniff(b"") == "application/octet-stream"


@given(st.text(max_size=300))
def test_extract_never_crashes_and_returns_http_urls(html: str) -> None:
    links = extract(html, "http://host-a.test/dir/page")
    for url in links.media + links.linked_media + links.pages:
        assert url.startswith(("http://", "https://"))


def test_capture_job_stores_encrypted_hashed_items(
    settings: Settings, session_factory: sessionmaker[Session], site: LocalSite
) -> None:
    _gallery(site)
    s = settings.model_copy(
        update={"crawler_allow_networks": ["127.0.0.0/8"], "dns_overrides": HOSTS}
    )
    with transaction(session_factory) as session:
        submit_report(session, ReportIn(urls=[site.url("/gallery", "host-a.test")]))
    rt = build_services(s)
    queue = build_queue(rt, name=f"t{uuid.uuid4().hex[:8]}")
    queue.drain()
    store = rt.media_store
    with session_factory() as session:
        case = session.execute(select(Case)).scalar_one()
        assert case.status == CaseStatus.TRIAGE
        items = session.execute(select(Item)).scalars().all()
        assert len(items) == 7
        for item in items:
            data = store.get(item.storage_key or "")
            assert hashlib.sha256(data).hexdigest() == item.sha256
            assert hashlib.md5(data, usedforsecurity=False).hexdigest() == item.md5
            assert hashlib.sha1(data, usedforsecurity=False).hexdigest() == item.sha1
            assert item.status == ItemStatus.NEW  # hashed; matched by assessment routing
            assert item.media_type.startswith("image/")
        links = session.execute(select(CaseItem)).scalars().all()
        assert {link.case_id for link in links} == {case.id}
        kinds = [e.kind for e in session.execute(select(CaseEvent)).scalars()]
        assert "captured" in kinds
    # Nothing on disk is plaintext.
    blobs = [p.read_bytes() for p in (s.data_dir / "media").rglob("*") if p.is_file()]
    assert len(blobs) == 7
    assert not any(PNG1 in b or JPG4 in b for b in blobs)
    rt.close()


def test_capture_of_refused_url_goes_to_triage_with_reason(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    with transaction(session_factory) as session:
        submit_report(session, ReportIn(urls=["http://10.0.0.1/admin"]))
    rt = build_services(settings)
    build_queue(rt, name=f"t{uuid.uuid4().hex[:8]}").drain()
    with session_factory() as session:
        case = session.execute(select(Case)).scalar_one()
        assert case.status == CaseStatus.TRIAGE
        events = session.execute(select(CaseEvent).where(CaseEvent.kind == "capture_failed"))
        assert "refused non-public address" in (events.scalar_one().detail or "")
    rt.close()


def _capture_with_bank(
    settings: Settings,
    session_factory: sessionmaker[Session],
    site: LocalSite,
    bank_name: str,
    policy: BankPolicy | None = None,
    mapping: dict[str, str] | None = None,
    **extra: object,
) -> tuple[Case, list[Item]]:
    site.html("/two", '<img src="/k.png"><img src="/u.png">')
    site.media("/k.png", PNG1)
    site.media("/u.png", PNG2)
    with transaction(session_factory) as session:
        bank = banks.create_bank(session, bank_name)
        digest = hashlib.sha256(PNG1).hexdigest()
        banks.add_entry(
            session, bank, HashType.SHA256, digest, source="partner", classification="A1"
        )
        if policy is not None:
            banks.set_policy(session, bank, policy, actor="admin")
        if mapping is not None:
            banks.set_mapping(session, bank, mapping, actor="admin", local_scheme="default")
        submit_report(session, ReportIn(urls=[site.url("/two", "host-a.test")]))
    s = settings.model_copy(
        update={"crawler_allow_networks": ["127.0.0.0/8"], "dns_overrides": HOSTS, **extra}
    )
    rt = build_services(s)
    build_queue(rt, name=f"t{uuid.uuid4().hex[:8]}").drain()
    rt.close()
    with session_factory() as session:
        case = session.execute(select(Case)).scalar_one()
        items = list(session.execute(select(Item).order_by(Item.id)).scalars())
    return case, items


def test_exact_match_in_trusted_mapped_bank_auto_assesses_item_and_case(
    settings: Settings, session_factory: sessionmaker[Session], site: LocalSite
) -> None:
    case, items = _capture_with_bank(
        settings,
        session_factory,
        site,
        "partner-list",
        policy=BankPolicy.AUTO_ASSESS,
        mapping={"A1": "baseline"},
    )
    by_hash = {i.sha256: i.status for i in items}
    assert by_hash[hashlib.sha256(PNG1).hexdigest()] == ItemStatus.AUTO_ASSESSED
    assert by_hash[hashlib.sha256(PNG2).hexdigest()] == ItemStatus.NEW
    assert case.status == CaseStatus.ASSESSED
    assert all(i.pdq and len(i.pdq) == 64 for i in items)
    # The same record as the console's automatic assessment: the queue and exports see it.
    with session_factory() as session:
        known = next(i for i in items if i.status == ItemStatus.AUTO_ASSESSED)
        rows = session.execute(select(Assessment).where(Assessment.item_id == known.id))
        (assessment,) = rows.scalars().all()
        assert assessment.kind == AssessmentKind.AUTOMATIC and assessment.illegal
        # The partner's "A1" arrives as the local class the mapping names.
        assert (assessment.scheme, assessment.classification) == ("default", "baseline")
        review = session.get(ItemReview, known.id)
        assert review is not None and review.automatic and review.state == "decided"


def _hints(session_factory: sessionmaker[Session]) -> list[BankHint]:
    with session_factory() as session:
        return list(session.scalars(select(BankHint)))


def test_partner_bank_defaults_to_review_with_hint(
    settings: Settings, session_factory: sessionmaker[Session], site: LocalSite
) -> None:
    case, items = _capture_with_bank(settings, session_factory, site, "partner-list")
    assert {i.status for i in items} == {ItemStatus.NEW}  # both go to the analysts' queue
    assert case.status == CaseStatus.TRIAGE
    (hint,) = _hints(session_factory)
    known = next(i for i in items if i.sha256 == hashlib.sha256(PNG1).hexdigest())
    assert (hint.item_id, hint.policy, hint.classification) == (
        known.id,
        BankPolicy.REVIEW_WITH_HINT,
        "A1",
    )
    with session_factory() as session:
        assert [name for _, name in banks.hints_for(session, known.id)] == ["partner-list"]
        assert session.scalars(select(Assessment)).all() == []


def test_trusted_bank_without_mapping_never_auto_assesses(
    settings: Settings, session_factory: sessionmaker[Session], site: LocalSite
) -> None:
    case, items = _capture_with_bank(
        settings, session_factory, site, "partner-list", policy=BankPolicy.AUTO_ASSESS
    )
    assert {i.status for i in items} == {ItemStatus.NEW}
    assert case.status == CaseStatus.TRIAGE
    (hint,) = _hints(session_factory)
    assert hint.policy == BankPolicy.REVIEW_WITH_HINT and hint.local_classification == ""


def test_report_only_bank_records_match_without_effect(
    settings: Settings, session_factory: sessionmaker[Session], site: LocalSite
) -> None:
    case, items = _capture_with_bank(
        settings,
        session_factory,
        site,
        "partner-list",
        policy=BankPolicy.REPORT_ONLY,
        mapping={"A1": "baseline"},
    )
    assert {i.status for i in items} == {ItemStatus.NEW}
    assert case.status == CaseStatus.TRIAGE
    (hint,) = _hints(session_factory)
    assert hint.policy == BankPolicy.REPORT_ONLY
    with session_factory() as session:
        assert banks.hints_for(session, hint.item_id) == []  # recorded, not shown


def test_only_listed_banks_auto_assess(
    settings: Settings, session_factory: sessionmaker[Session], site: LocalSite
) -> None:
    case, items = _capture_with_bank(
        settings, session_factory, site, "unvetted", capture_match_banks=["confirmed"]
    )
    assert {i.status for i in items} == {ItemStatus.NEW}
    assert case.status == CaseStatus.TRIAGE

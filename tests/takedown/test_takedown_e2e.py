"""End to end on 127.0.0.1: report -> capture -> assessment -> trace -> notice -> removal."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from urllib.parse import urlsplit

from PIL import Image
from sqlalchemy import select

from openhotline.assessment.banks import confirmed_bank
from openhotline.cases.models import Case, CaseEvent, CaseStatus
from openhotline.cases.service import move
from openhotline.db import transaction
from openhotline.matching import service as banks
from openhotline.matching.models import HashType
from openhotline.media import service as media_service
from openhotline.media.models import CaseItem, Item, ItemStatus
from openhotline.takedown import service as takedown
from openhotline.takedown.models import Notice, NoticeSend, Referral
from openhotline.trace.models import HostingTrace
from tests.console_fixtures import Staff, login
from tests.pipeline_support import make_image
from tests.takedown.takedown_world import HOST, World


def _report(world: World, path: str) -> None:
    r = world.client.post("/api/v1/reports", json={"urls": [world.url(path)]})
    assert r.status_code == 201, r.text


def _assess_all(world: World) -> None:
    """Stand-in for the analyst console (not merged yet): grade captured cases illegal."""
    with transaction(world.queue.services.sessionmaker) as s:
        for case in s.execute(select(Case).where(Case.status == CaseStatus.TRIAGE)).scalars():
            move(s, case, CaseStatus.ASSESSED, actor="analyst:test", reason="illegal")


def _bank_with_variant_of(world: World, seed: int) -> None:
    """A confirmed bank holding only the PDQ of a re-encoded, resized copy of one image,
    so the served file can match by perceptual hash alone (its SHA-256 is not in the bank)."""
    png = make_image(seed)
    img = Image.open(io.BytesIO(png)).convert("RGB")
    buf = io.BytesIO()
    img.resize((img.width * 2, img.height * 2)).save(buf, "JPEG", quality=70)
    pdq = media_service.hash_file(buf.getvalue()).pdq
    with transaction(world.queue.services.sessionmaker) as s:
        bank = confirmed_bank(s)  # the own bank: auto_assess, entries in the local scheme
        banks.add_entry(
            s, bank, HashType.PDQ, pdq, source="test", classification="default:baseline"
        )


def test_report_to_removal(
    make_world: Callable[..., World], make_user: Callable[..., Staff]
) -> None:
    world = make_world("GB")
    images = world.gallery("/g1", [11, 12])
    _bank_with_variant_of(world, 11)
    r = world.client.post("/api/v1/reports", json={"urls": [world.url("/g1")]})
    assert r.status_code == 201, r.text

    world.drain()  # capture: hash, match, auto-assess the known image
    factory = world.queue.services.sessionmaker
    with factory() as s:
        case = s.execute(select(Case)).scalar_one()
        assert case.status == CaseStatus.ASSESSED  # no analyst had to look
        items = {i.sha256: i for i in s.execute(select(Item)).scalars()}
        assert sorted(i.size for i in items.values()) == sorted(len(b) for b in images)
        known = items[hashlib.sha256(images[0]).hexdigest()]
        unknown = items[hashlib.sha256(images[1]).hexdigest()]
        assert known.status == ItemStatus.AUTO_ASSESSED
        assert unknown.status == ItemStatus.NEW  # for the analysts' queue
        assert known.pdq and known.pdq_quality is not None and not known.weak
        assert len(s.execute(select(CaseItem)).all()) == 2
        event = s.execute(
            select(CaseEvent).where(CaseEvent.to_status == CaseStatus.ASSESSED)
        ).scalar_one()
        assert (event.actor, event.detail) == ("matcher", "matched confirmed")

    with factory() as s:
        assert takedown.urls_to_block(s) == [world.url("/g1")]
    world.drain()  # trace, route, send

    with factory() as s:
        case = s.execute(select(Case)).scalar_one()
        assert case.status == CaseStatus.ACTIONED
        trace = s.execute(select(HostingTrace)).scalar_one()
        assert (trace.ip, trace.country, trace.asn, trace.as_org) == (
            "127.0.0.1",
            "GB",
            64500,
            "HostCo",
        )
        assert trace.abuse_email == f"abuse@{HOST}"
        assert trace.registrar_abuse_email == "abuse@registrar.test"
        assert trace.network == "127.0.0.0/24"
        assert trace.cdn is None
        ref = s.execute(select(Referral)).scalar_one()
        assert (ref.kind, ref.destination, ref.status) == ("police", "national-police", "pending")
        notice = s.execute(select(Notice)).scalar_one()
        assert notice.attempts == 1 and notice.first_sent_at is not None

    assert len(world.mail.messages) == 1
    rcpts, msg = world.mail.messages[0]
    assert rcpts == [f"abuse@{HOST}"]
    body = msg.get_content()
    assert world.url("/g1") in body
    assert "Notice of illegal content" in msg["Subject"]
    link = next(line.split(": ", 1)[1] for line in body.splitlines() if "Confirm removal" in line)

    # The host removes the images; a forged link is refused, the signed one accepted.
    for i in range(2):
        del world.site.pages[f"/g1/img{i}.png"]
    parts = urlsplit(link)
    bad = world.client.get(parts.path + "?sig=" + "0" * 40)
    assert bad.status_code == 404
    ok = world.client.get(parts.path + "?" + parts.query)
    assert ok.status_code == 200, ok.text
    world.drain()  # re-check at source

    with factory() as s:
        case = s.execute(select(Case)).scalar_one()
        assert case.status == CaseStatus.REMOVED
        assert case.removed_at is not None and case.actioned_at is not None
        assert case.removed_at >= case.actioned_at >= case.created_at
        assert takedown.urls_to_block(s) == []
        kinds = [e.kind for e in s.execute(select(CaseEvent).order_by(CaseEvent.id)).scalars()]
        for kind in ("received", "captured", "traced", "routed", "notice_sent", "host_confirmed"):
            assert kind in kinds
    assert world.client.get("/api/v1/stats/takedown").status_code == 401
    login(world.client, make_user("sup", "supervisor"))
    stats = world.client.get("/api/v1/stats/takedown")
    assert stats.status_code == 200, stats.text
    data = stats.json()
    print("takedown figures:", {k: data[k] for k in ("time_to_notice", "time_to_removal")})
    assert data["cases_removed"] == 1
    assert data["notices_sent"] == 1
    assert data["time_to_removal"]["count"] == 1
    assert data["time_to_removal"]["median_seconds"] > 0
    assert data["time_to_notice"]["count"] == 1
    assert data["by_country"]["GB"]["removed"] == 1
    assert data["by_host"][HOST]["notices"] == 1
    with world.queue.services.sessionmaker() as s:
        case_id = s.execute(select(Case.id)).scalar_one()
    view = world.client.get(f"/api/v1/cases/{case_id}/takedown")
    assert view.status_code == 200, view.text
    body = view.json()
    assert body["status"] == "removed"
    assert body["traces"][0]["abuse_email"] == f"abuse@{HOST}"
    assert body["notices"][0]["host_confirmed_at"] is not None
    assert [r["kind"] for r in body["referrals"]] == ["police"]
    assert world.client.get("/api/v1/cases/999/takedown").status_code == 404


def test_partner_country_case_is_referred_not_noticed(make_world: Callable[..., World]) -> None:
    world = make_world("DE")
    world.gallery("/de", [21])
    _report(world, "/de")
    world.drain()
    _assess_all(world)
    world.drain()
    with world.queue.services.sessionmaker() as s:
        ref = s.execute(select(Referral)).scalar_one()
        assert (ref.kind, ref.destination, ref.country, ref.status) == (
            "partner_hotline",
            "hotline-de",
            "DE",
            "pending",
        )
        assert s.execute(select(Notice)).first() is None
        assert s.execute(select(Case)).scalar_one().status == CaseStatus.ACTIONED
    assert world.mail.messages == []


def test_case_behind_cdn_notices_the_cdn(make_world: Callable[..., World]) -> None:
    world = make_world("US", abuse="abuse@cdn.test", extra_cdn_ranges={"TestCDN": ["127.0.0.1/32"]})
    world.gallery("/cdn", [31])
    _report(world, "/cdn")
    world.drain()
    _assess_all(world)
    world.drain()
    with world.queue.services.sessionmaker() as s:
        trace = s.execute(select(HostingTrace)).scalar_one()
        assert trace.cdn == "TestCDN"
        notice = s.execute(select(Notice)).scalar_one()
        assert (notice.role, notice.recipient) == ("cdn", "abuse@cdn.test")
        ref = s.execute(select(Referral)).scalar_one()
        assert (ref.kind, ref.destination) == ("international_police", "interpol-icse")
        detail = s.execute(select(CaseEvent.detail).where(CaseEvent.kind == "traced")).scalar_one()
        assert "hosted behind a CDN (TestCDN): notice the CDN and ask for the origin" in (
            detail or ""
        )
    [(rcpts, msg)] = world.mail.messages
    assert rcpts == ["abuse@cdn.test"]
    assert "origin host" in msg.get_content()


def test_resend_retraces_escalates_and_batches(make_world: Callable[..., World]) -> None:
    world = make_world("FR", notice_interval_hours=0.0, notice_escalate_after=1)
    world.gallery("/a", [41])
    world.gallery("/b", [42])
    for path in ("/a", "/b"):
        _report(world, path)
    world.drain()
    _assess_all(world)
    world.drain()  # first notice: one e-mail for both URLs, in French
    assert len(world.mail.messages) >= 1
    rcpts, first = world.mail.messages[0]
    assert rcpts == [f"abuse@{HOST}"]
    assert world.url("/a") in first.get_content() and world.url("/b") in first.get_content()
    assert first["Content-Language"] == "fr"
    world.drain()  # due again at once (interval 0): re-traced, escalated to the registrar
    with world.queue.services.sessionmaker() as s:
        sends = s.execute(select(NoticeSend).order_by(NoticeSend.id)).scalars().all()
        assert max(x.attempt for x in sends) >= 2
        assert len({x.message_id for x in sends if x.attempt == 1}) == 1  # batched
        assert len(s.execute(select(HostingTrace)).all()) >= 4  # 2 cases x (route + re-send)
    rcpts2, second = world.mail.messages[-1]
    assert "abuse@registrar.test" in rcpts2
    assert "Escalade" in second["Subject"]


def test_police_first_holds_notice_until_cleared(make_world: Callable[..., World]) -> None:
    world = make_world("GB", police_first=True)
    world.gallery("/p", [51])
    _report(world, "/p")
    world.drain()
    _assess_all(world)
    world.drain()
    assert world.mail.messages == []
    factory = world.queue.services.sessionmaker
    with transaction(factory) as s:
        case_id = s.execute(select(Case.id)).scalar_one()
        assert takedown.clear_for_notice(s, case_id, actor="police:test") == 1
    world.drain()
    assert len(world.mail.messages) == 1


def test_content_already_gone_is_not_noticed(make_world: Callable[..., World]) -> None:
    world = make_world("GB")
    world.gallery("/gone", [61])
    _report(world, "/gone")
    world.drain()
    _assess_all(world)
    world.site.pages.clear()  # removed before the first notice
    world.drain()
    assert world.mail.messages == []
    with world.queue.services.sessionmaker() as s:
        assert s.execute(select(Case)).scalar_one().status == CaseStatus.REMOVED

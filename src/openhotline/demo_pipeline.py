"""`openhotline demo pipeline`: the whole hotline path on 127.0.0.1 with nothing else running.

A local website with generated images (one from a hash bank, three unknown ones among icons,
one shown only after JavaScript runs), a local SMTP sink, a local RDAP server and a generated
GeoIP/ASN database; the worker's jobs run in this process; two demo analysts grade. Prints a
JSON summary per case (report, capture, assessment, trace, notice, removal) and returns 0 when
every case went report -> notice -> removed, each notice before the remaining items were graded.
Images are synthetic noise and gradients; labels stay clinical ("baseline", "not illegal").
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from openhotline.accounts import service as accounts
from openhotline.assessment import banks as bank_policies
from openhotline.assessment import queue as assessment_queue
from openhotline.assessment import service as assessment
from openhotline.assessment import url_decisions
from openhotline.assessment.models import ItemReview
from openhotline.assessment.policy import policy_in_force
from openhotline.blocklist import service as blocklist
from openhotline.blocklist.models import ListEntry, ListKind
from openhotline.bootstrap import Services, build
from openhotline.capture import recapture
from openhotline.capture.render import unavailable_reason
from openhotline.cases.models import Case, CaseEvent, CaseEventKind, CaseStatus
from openhotline.config import Settings
from openhotline.db import transaction
from openhotline.jobs import service as jobs
from openhotline.jobs.queue import Queue, build_queue
from openhotline.matching import service as banks
from openhotline.matching.models import HashType
from openhotline.matching.policy import BankPolicy
from openhotline.media.models import CaseItem, Item
from openhotline.migrate import upgrade
from openhotline.reporting.schemas import ReportIn
from openhotline.reporting.service import submit_report
from openhotline.takedown.models import Notice
from openhotline.trace.service import latest_trace

HOST = "gallery.demo.test"
ABUSE = f"abuse@{HOST}"
COUNTRY = "US"  # neither own nor partner country: notice to the host + international police
PASSWORD = "demo-analyst-passphrase-1"  # noqa: S105 - throwaway users of a throwaway database


def synthetic_image(seed: int, size: tuple[int, int] = (320, 240)) -> bytes:
    """A generated noise-and-gradient PNG (never real content)."""
    rng = random.Random(seed)  # noqa: S311 - synthetic pixels, not security
    img = Image.new("RGB", size)
    px = img.load()
    if px is None:  # Pillow returns no pixel access only for images with no data
        raise RuntimeError("cannot draw the synthetic image")
    for x in range(size[0]):
        for y in range(size[1]):
            px[x, y] = (
                (x * 3 + seed * 7) % 256,
                (y * 2 + rng.randrange(48)) % 256,
                rng.randrange(256),
            )
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


class _Site:
    """A threading HTTP server on 127.0.0.1 serving a dict of path -> (type, body)."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, bytes]] = {}
        site = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                page = site.pages.get(self.path.split("?", 1)[0])
                ctype, body = page or ("text/plain", b"not found")
                self.send_response(200 if page else 404)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        """The absolute URL of a path under a host name."""
        return f"http://{host}:{self.port}{path}"

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


class _MailSink:
    """A local SMTP server (aiosmtpd) keeping every notice it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[tuple[list[str], Message]] = []
        sink = self

        class _Handler:
            async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
                msg = message_from_bytes(envelope.content, policy=email_policy)
                sink.messages.append((list(envelope.rcpt_tos), msg))
                return "250 OK"

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.controller = Controller(_Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        """Stop the SMTP server."""
        self.controller.stop()


def _rdap_entity(roles: list[str], email: str, nested: list[Any] | None = None) -> dict[str, Any]:
    vcard = [["version", {}, "text", "4.0"], ["fn", {}, "text", roles[0]]]
    entity: dict[str, Any] = {
        "objectClassName": "entity",
        "roles": roles,
        "vcardArray": ["vcard", [*vcard, ["email", {}, "text", email]]],
    }
    if nested:
        entity["entities"] = nested
    return entity


def _rdap_pages(site: _Site) -> None:
    network = {
        "rdapConformance": ["rdap_level_0", "cidr0"],
        "objectClassName": "ip network",
        "handle": "NET-DEMO",
        "startAddress": "127.0.0.0",
        "endAddress": "127.0.0.255",
        "ipVersion": "v4",
        "name": "demo-hosting",
        "country": COUNTRY,
        "cidr0_cidrs": [{"v4prefix": "127.0.0.0", "length": 24}],
        "entities": [
            _rdap_entity(["registrant"], "noc@demo-hosting.test", [_rdap_entity(["abuse"], ABUSE)])
        ],
    }
    domain = {
        "rdapConformance": ["rdap_level_0"],
        "objectClassName": "domain",
        "ldhName": HOST,
        "entities": [
            _rdap_entity(
                ["registrar"],
                "info@registrar.test",
                [_rdap_entity(["abuse"], "abuse@registrar.test")],
            )
        ],
    }
    site.pages["/ip/127.0.0.1"] = ("application/rdap+json", json.dumps(network).encode())
    site.pages[f"/domain/{HOST}"] = ("application/rdap+json", json.dumps(domain).encode())


def _geoip_database(path: Path) -> None:
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet  # type: ignore[import-untyped]

    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-Country")
    writer.insert_network(
        IPSet(["127.0.0.0/24"]),
        {
            "country": {"iso_code": COUNTRY},
            "autonomous_system_number": 64500,
            "autonomous_system_organization": "Demo Hosting",
        },
    )
    writer.to_db_file(str(path))


@dataclass
class DemoCase:
    """One reported page and what the demo expects of it."""

    name: str
    path: str
    case_id: int = 0
    graded_illegal: list[int] = field(default_factory=list)
    graded_later: list[int] = field(default_factory=list)
    mode: str = "crawler"


def _website(site: _Site) -> dict[str, bytes]:
    """Serve the three demo pages; return the images by name."""
    images = {
        "banked": synthetic_image(1),
        "unknown1": synthetic_image(2),
        "unknown2": synthetic_image(3),
        "unknown3": synthetic_image(4),
        "late": synthetic_image(5),
        "icon": synthetic_image(6, (16, 16)),
        "pixel": synthetic_image(7, (1, 1)),
    }
    for name, data in images.items():
        site.pages[f"/img/{name}.png"] = ("image/png", data)
    site.pages["/banked.html"] = (
        "text/html",
        b'<html><body><h1>Page one</h1><img src="/img/banked.png"></body></html>',
    )
    site.pages["/mixed.html"] = (
        "text/html",
        b'<html><body><img src="/img/icon.png"><h1>Page two</h1><img src="/img/unknown1.png">'
        b'<img src="/img/unknown2.png"><img src="/img/unknown3.png"><img src="/img/pixel.png">'
        b"</body></html>",
    )
    site.pages["/js.html"] = (
        "text/html",
        b"<html><body><h1>Page three</h1><script>document.addEventListener('DOMContentLoaded',"
        b" function () { var i = new Image(); i.src = '/img/late.png';"
        b" document.body.appendChild(i); });</script></body></html>",
    )
    return images


def _drain(queue: Queue, rounds: int = 6) -> None:
    """Run the worker's tick and every due job until nothing more happens."""
    for _ in range(rounds):
        if queue.drain() == 0:
            return


def _grade_item(services: Services, item_id: int, user: assessment.Actor, code: str) -> None:
    with transaction(services.sessionmaker) as s:
        policy = policy_in_force(services.settings, s)
        assessment_queue.claim(s, item_id, user, policy, services.matcher)
        assessment.assess(s, item_id, user, code, {}, policy)


def _items_by_url(session: Session, case_id: int) -> dict[str, int]:
    rows = session.execute(
        select(CaseItem.media_url, CaseItem.item_id).where(CaseItem.case_id == case_id)
    ).all()
    return {str(url or ""): int(item_id) for url, item_id in rows}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 3) if start and end else None


def _summary(services: Services, demo: DemoCase) -> dict[str, Any]:
    with services.sessionmaker() as s:
        case = s.get(Case, demo.case_id)
        if case is None:
            raise RuntimeError(f"demo case {demo.case_id} vanished")
        events = list(s.execute(select(CaseEvent).where(CaseEvent.case_id == case.id)).scalars())
        notice = s.execute(select(Notice).where(Notice.case_id == case.id)).scalars().first()
        trace = latest_trace(s, case.id)
        reviews = {
            r.item_id: r
            for r in s.execute(
                select(ItemReview)
                .join(CaseItem, CaseItem.item_id == ItemReview.item_id)
                .where(CaseItem.case_id == case.id)
            ).scalars()
        }
        items = list(
            s.execute(
                select(Item, CaseItem.media_url)
                .join(CaseItem, CaseItem.item_id == Item.id)
                .where(CaseItem.case_id == case.id)
                .order_by(Item.id)
            ).all()
        )
        filtered = [e.detail for e in events if e.kind == CaseEventKind.MEDIA_FILTERED]
        later = [reviews[i].decided_at for i in demo.graded_later if i in reviews]
        sent = notice.first_sent_at if notice else None
        url_grades = url_decisions.decisions_of(s, case.id)
        listed = s.execute(
            select(ListEntry).where(
                ListEntry.kind == ListKind.URLS, ListEntry.url == case.canonical_url
            )
        ).scalar_one_or_none()
        return {
            "case": case.id,
            "url": case.canonical_url,
            "report": {"received_at": _iso(case.created_at)},
            "capture": {
                "mode": demo.mode,
                "items": [
                    {
                        "item": item.id,
                        "found_at": media_url,
                        "status": item.status.value,
                        "review": reviews[item.id].state.value if item.id in reviews else None,
                        "classification": (
                            reviews[item.id].classification if item.id in reviews else None
                        ),
                    }
                    for item, media_url in items
                ],
                "filtered": filtered,
            },
            "assessment": {
                "first_assessed_at": _iso(case.first_assessed_at),
                "url_level_decisions": [d.classification for d in url_grades],
            },
            "trace": {
                "ip": trace.ip if trace else None,
                "country": trace.country if trace else None,
                "abuse_contact": trace.abuse_email if trace else None,
            },
            "notice": {
                "recipient": notice.recipient if notice else None,
                "first_sent_at": _iso(sent),
                "sent_before_remaining_items_were_graded": bool(
                    sent and later and all(t is not None and sent < t for t in later)
                ),
            },
            "block_list": {
                "listed_in_version": listed.added_version if listed else None,
                "delisted_in_version": listed.removed_version if listed else None,
            },
            "removal": {
                "status": case.status.value,
                "removed_at": _iso(case.removed_at),
                "seconds_report_to_notice": _seconds(case.created_at, sent),
                "seconds_notice_to_removal": _seconds(sent, case.removed_at),
            },
        }


def run_demo(echo: Callable[[str], None], *, workdir: Path | None = None) -> int:
    """Run the demo pipeline; print a JSON summary per case; return the exit status."""
    tmp = workdir or Path(tempfile.mkdtemp(prefix="openhotline-demo-"))
    owned = workdir is None
    site, rdap, mail = _Site(), _Site(), _MailSink()
    services: Services | None = None
    try:
        images = _website(site)
        _rdap_pages(rdap)
        geo = tmp / "demo-geo.mmdb"
        _geoip_database(geo)
        settings = Settings(
            data_dir=tmp,
            database_url="",
            modules=["hotline"],
            crawler_allow_networks=["127.0.0.0/8"],
            dns_overrides={HOST: ["127.0.0.1"]},
            geoip_country_db=geo,
            geoip_asn_db=geo,
            rdap_base_url=rdap.url(""),
            smtp_host="127.0.0.1",
            smtp_port=mail.port,
            own_countries=["NL"],
            public_base_url="http://127.0.0.1:8000",
            jobs_backend="sqlite",
            jobs_name="demo",
            job_backoff_seconds=0.1,
            render_seconds=20.0,
        )
        upgrade(settings.resolved_database_url())
        services = build(settings)
        queue = build_queue(services, name="demo")
        demos = [
            DemoCase("bank match", "/banked.html"),
            DemoCase("one of three graded illegal", "/mixed.html"),
            DemoCase("shown only after JavaScript", "/js.html", mode="rendered"),
        ]
        with transaction(services.sessionmaker) as s:
            bank = banks.create_bank(s, "demo-partner-bank")
            digest = hashlib.sha256(images["banked"]).hexdigest()
            banks.add_entry(s, bank, HashType.SHA256, digest, "demo", "A")
            # A partner's list only assesses automatically once an admin trusts it and maps
            # its classes to the local scheme (otherwise its matches are hints for analysts).
            scheme = services.settings.classification_scheme
            bank_policies.map_bank_classes(s, bank.name, {"A": "baseline"}, scheme, "demo")
            banks.set_policy(s, bank, BankPolicy.AUTO_ASSESS, "demo")
            analysts = [
                accounts.create_user(s, name, PASSWORD, "analyst", actor="demo").user
                for name in ("demo-ana", "demo-ben")
            ]
            ana, ben = (assessment.Actor(u.id, f"user:{u.username}") for u in analysts)
            for demo in demos:
                submit_report(s, ReportIn(urls=[site.url(demo.path, HOST)]), source="demo")
                url = site.url(demo.path, HOST)
                found = s.execute(select(Case.id).where(Case.canonical_url == url)).scalar_one()
                demo.case_id = int(found)
        _drain(queue)  # capture (crawler), bank match, trace and notice of the banked page
        bank_case, mixed, js = demos
        no_render = unavailable_reason(settings.render_chromium_path)
        if no_render is None:
            with transaction(services.sessionmaker) as s:
                recapture.request_render(s, js.case_id, "user:demo-ana", unavailable=None)
            _drain(queue)
        with services.sessionmaker() as s:
            mixed_items = _items_by_url(s, mixed.case_id)
            js_items = _items_by_url(s, js.case_id)
        unknown = [mixed_items[site.url(f"/img/unknown{i}.png", HOST)] for i in (1, 2, 3)]
        mixed.graded_illegal, mixed.graded_later = unknown[:1], unknown[1:]
        with transaction(services.sessionmaker) as s:
            assessment.route_new_items(s, engine=services.matcher)
        for who in (ana, ben):  # four eyes: two analysts agree on one item
            _grade_item(services, unknown[0], who, "baseline")
        late = js_items.get(site.url("/img/late.png", HOST))
        if late is not None:
            js.graded_illegal = [late]
            js.graded_later = [i for u, i in js_items.items() if u.startswith("screenshot: ")]
            for who in (ana, ben):
                _grade_item(services, late, who, "baseline")
        else:  # no Chromium here: two analysts decide on the URL as a whole instead
            js.mode = f"crawler (rendered mode skipped: {no_render})"
            for who in (ana, ben):
                with transaction(services.sessionmaker) as s:
                    policy = policy_in_force(settings, s)
                    url_decisions.decide(s, js.case_id, who, "baseline", {}, policy)
        _drain(queue)  # trace, route, notices (while the other items are still open)
        with transaction(services.sessionmaker) as s:
            blocklist.publish_lists(s, actor="demo")  # actioned URLs enter the URL list
        for item_id in mixed.graded_later + js.graded_later:
            _grade_item(services, item_id, ana, "not_illegal")
        for path in ("/banked.html", "/mixed.html", "/js.html"):
            site.pages.pop(path)  # the host removes the pages
        with transaction(services.sessionmaker) as s:
            for demo in demos:
                jobs.enqueue(s, "takedown.recheck", {"case_id": demo.case_id})
        _drain(queue)
        with transaction(services.sessionmaker) as s:
            blocklist.publish_lists(s, actor="demo")  # removed pages leave it (delisted)
        summaries = [{"name": d.name, **_summary(services, d)} for d in (bank_case, mixed, js)]
        echo(json.dumps({"cases": summaries, "notices_received": len(mail.messages)}, indent=2))
        ok = all(
            c["notice"]["first_sent_at"]
            and c["removal"]["status"] == CaseStatus.REMOVED
            and c["block_list"]["delisted_in_version"]
            for c in summaries
        ) and all(
            c["notice"]["sent_before_remaining_items_were_graded"]
            for c in summaries
            if c["name"] == mixed.name
        )
        return 0 if ok else 1
    finally:
        if services is not None:
            services.close()
        mail.stop()
        site.stop()
        rdap.stop()
        if owned:  # nothing of the demo stays behind (its media key included)
            shutil.rmtree(tmp, ignore_errors=True)

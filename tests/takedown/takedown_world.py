"""A local hosting world for takedown tests: web site, RDAP server, MMDB, SMTP, job queue.

Everything listens on 127.0.0.1; the MMDB places 127.0.0.0/24 in the country under test.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openhotline.app import create_app
from openhotline.bootstrap import Services
from openhotline.bootstrap import build as build_services
from openhotline.config import Settings
from openhotline.jobs.queue import Queue, build_queue
from tests.pipeline_support import (
    LocalSite,
    MailSink,
    Page,
    build_mmdb,
    make_image,
    rdap_domain,
    rdap_ip_network,
)

HOST = "host-a.test"


@dataclass
class World:
    """Everything a takedown test drives."""

    site: LocalSite
    rdap: LocalSite
    mail: MailSink
    settings: Settings
    client: TestClient
    queue: Queue

    def gallery(self, path: str, seeds: list[int]) -> list[bytes]:
        """Serve a page at path showing generated images; return their bytes."""
        images = [make_image(s) for s in seeds]
        tags = "".join(f'<img src="{path}/img{i}.png">' for i in range(len(seeds)))
        self.site.html(path, f"<html><body>{tags}</body></html>")
        for i, data in enumerate(images):
            self.site.media(f"{path}/img{i}.png", data)
        return images

    def url(self, path: str) -> str:
        """The public URL of a path on the fake host."""
        return self.site.url(path, HOST)

    def drain(self) -> int:
        """Run every due job (a worker would do this continuously)."""
        return self.queue.drain()


@pytest.fixture
def make_world(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., World]]:
    """Build a world whose 127.0.0.1 host sits in a given country (and maybe a CDN)."""
    started: list[Any] = []

    def build(country: str = "GB", abuse: str = f"abuse@{HOST}", **overrides: Any) -> World:
        site = LocalSite().start()
        rdap = LocalSite().start()
        mail = MailSink().start()
        started.extend([site, rdap, mail])
        rdap.pages["/ip/127.0.0.1"] = Page(
            json.dumps(
                rdap_ip_network("127.0.0.1", "127.0.0.0/24", "hostco", abuse, country)
            ).encode(),
            content_type="application/rdap+json",
        )
        rdap.pages[f"/domain/{HOST}"] = Page(
            json.dumps(rdap_domain(HOST, "abuse@registrar.test")).encode(),
            content_type="application/rdap+json",
        )
        mmdb = tmp_path / f"geo-{uuid.uuid4().hex[:6]}.mmdb"
        build_mmdb(mmdb, {"127.0.0.0/24": {"country": country, "asn": 64500, "org": "HostCo"}})
        s = settings.model_copy(
            update={
                "crawler_allow_networks": ["127.0.0.0/8"],
                "dns_overrides": {HOST: ["127.0.0.1"]},
                "geoip_country_db": mmdb,
                "geoip_asn_db": mmdb,
                "rdap_base_url": rdap.url(""),
                "smtp_port": mail.port,
                "own_countries": ["GB"],
                "partner_hotlines": {"DE": "hotline-de"},
                "notice_languages": {"DE": "de", "FR": "fr"},
                "public_base_url": "http://testserver",
                "job_backoff_seconds": 0.1,
                "session_cookie_secure": False,
                **overrides,
            }
        )
        client = TestClient(create_app(s))
        client.__enter__()
        started.append(client)
        rt = build_services(s)
        started.append(rt)
        return World(site, rdap, mail, s, client, build_queue(rt, name=f"w{uuid.uuid4().hex[:8]}"))

    yield build
    for thing in reversed(started):
        if isinstance(thing, TestClient):
            thing.__exit__(None, None, None)
        elif isinstance(thing, Services):
            thing.close()
        else:
            thing.stop()

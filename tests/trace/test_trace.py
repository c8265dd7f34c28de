"""Hosting trace against a local RDAP server and a generated MaxMind database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openhotline.net.guard import StaticResolver
from openhotline.trace.cdn import CdnRanges
from openhotline.trace.geoip import MaxMindGeoIP
from openhotline.trace.rdap import HttpRdap, abuse_emails, parse_ip_network
from openhotline.trace.service import Tracer, compute_trace
from tests.pipeline_support import (
    LocalSite,
    Page,
    build_mmdb,
    rdap_domain,
    rdap_ip_network,
    vcard_entity,
)


@pytest.fixture
def rdap() -> Iterator[LocalSite]:
    s = LocalSite().start()
    net = rdap_ip_network("127.0.0.5", "127.0.0.0/29", "smallhost", "abuse@smallhost.test", "NL")
    s.pages["/ip/127.0.0.5"] = Page(json.dumps(net).encode(), content_type="application/rdap+json")
    s.pages["/domain/shop.test"] = Page(
        json.dumps(rdap_domain("shop.test", "abuse@reg.test")).encode(),
        content_type="application/rdap+json",
    )
    s.pages["/ip/127.0.0.6"] = Page(b"<html>not json</html>", content_type="text/html")
    yield s
    s.stop()


@pytest.fixture
def mmdb(tmp_path: Path) -> Path:
    path = tmp_path / "geo.mmdb"
    build_mmdb(
        path,
        {
            "127.0.0.0/29": {"country": "NL", "asn": 64501, "org": "SmallHost BV"},
            "127.0.0.8/29": {"country": "FR", "asn": 64502, "org": "Other SAS"},
        },
    )
    return path


def _tracer(rdap: LocalSite, mmdb: Path, answers: dict[str, list[str]], **cdn: Any) -> Tracer:
    return Tracer(
        resolver=StaticResolver(answers),
        geoip=MaxMindGeoIP(mmdb, mmdb),
        rdap=HttpRdap(rdap.url("")),
        cdns=CdnRanges.shipped(cdn),
    )


def test_trace_host_to_abuse_contact(rdap: LocalSite, mmdb: Path) -> None:
    tracer = _tracer(rdap, mmdb, {"www.shop.test": ["127.0.0.5"]})
    result = compute_trace(tracer, "www.shop.test")
    assert result.ips == ["127.0.0.5"]
    assert (result.country, result.asn, result.as_org) == ("NL", 64501, "SmallHost BV")
    assert result.network == "127.0.0.0/29" and result.network_name == "smallhost"
    assert result.abuse_email == "abuse@smallhost.test"
    assert result.registrar_abuse_email == "abuse@reg.test"  # found at the parent domain
    assert result.cdn is None
    assert result.errors == []


def test_trace_of_unresolvable_host(rdap: LocalSite, mmdb: Path) -> None:
    result = compute_trace(_tracer(rdap, mmdb, {}), "nowhere.test")
    assert result.ip is None
    assert "does not resolve" in result.errors[0]


def test_trace_without_rdap_record_reports_missing_contact(rdap: LocalSite, mmdb: Path) -> None:
    result = compute_trace(_tracer(rdap, mmdb, {"x.test": ["127.0.0.9"]}), "x.test")
    assert (result.country, result.asn) == ("FR", 64502)
    assert result.abuse_email is None
    assert "no abuse contact found in RDAP" in result.errors


def test_trace_survives_broken_rdap_answer(rdap: LocalSite, mmdb: Path) -> None:
    result = compute_trace(_tracer(rdap, mmdb, {"y.test": ["127.0.0.6"]}), "y.test")
    assert any("not JSON" in e for e in result.errors)


def test_trace_survives_rdap_server_down(mmdb: Path) -> None:
    down = LocalSite().start()
    down.stop()
    result = compute_trace(_tracer(down, mmdb, {"z.test": ["127.0.0.5"]}), "z.test")
    assert result.country == "NL"
    assert any("RDAP" in e for e in result.errors)


def test_cdn_ranges_shipped_and_extra() -> None:
    cdns = CdnRanges.shipped({"TestCDN": ["198.51.100.0/24"]})
    assert cdns.cdn_for("104.16.1.1") == "Cloudflare"
    assert cdns.cdn_for("2606:4700::1") == "Cloudflare"
    assert cdns.cdn_for("151.101.1.1") == "Fastly"
    assert cdns.cdn_for("198.51.100.7") == "TestCDN"
    assert cdns.cdn_for("192.0.2.1") is None


def test_geoip_without_databases_knows_nothing() -> None:
    assert MaxMindGeoIP(None, None).lookup("127.0.0.1").country is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.sampled_from(["entities", "cidr0_cidrs", "name", "x"]), json_values))
def test_rdap_parser_never_crashes(data: dict[str, Any]) -> None:
    try:
        net = parse_ip_network(data)
    except (AttributeError, TypeError):
        pytest.fail("parser crashed on malformed RDAP JSON")
    assert isinstance(net.abuse_emails, list)
    assert abuse_emails(data) == net.abuse_emails


def test_rdap_emails_that_could_inject_headers_are_ignored() -> None:
    data = {
        "entities": [
            vcard_entity(["abuse"], "abuse@ok.test\nBcc: victim@x.test"),
            vcard_entity(["abuse"], "a b@x.test"),
            vcard_entity(["abuse"], "abuse@good.test"),
        ]
    }
    assert abuse_emails(data) == ["abuse@good.test"]

"""SSRF: private, loopback, link-local, multicast, reserved and odd spellings are refused
before any connection, at every redirect hop, and DNS rebinding cannot get through."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpcore
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from openhotline.capture.fetch import FetchError, FetchLimits, SafeFetcher
from openhotline.config import Settings
from openhotline.net.guard import (
    AddressGuard,
    BlockedAddressError,
    Resolver,
    StaticResolver,
    ip_literal,
    parse_allow_entry,
    parse_networks,
)
from tests.pipeline_support import LocalSite, SequenceResolver, make_tls

BAD_URLS = [
    "http://10.0.0.1/",
    "http://127.1/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://224.0.0.1/",
    "http://0.0.0.0/",
    "http://100.64.0.1/",
    "http://192.168.1.1:8080/",
    "http://172.16.0.1/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[ff02::1]/",
    "http://[2002:7f00:1::1]/",
    "http://[64:ff9b::a00:1]/",
    "http://0/",
    "http://0x0a.0.0.1/",
    "http://012.0.0.1/",
    "http://10.1/",
    "http://[0:0:0:0:0:ffff:127.0.0.1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::]/",
    "http://[fe80::1%25eth0]/",
    "http://user:pw@127.0.0.1/",
    "http://127.0.0.1./",
    "http://198.18.0.1/",
    "http://192.0.2.1/",
]

PRIVATE_ANSWERS = [
    "10.0.0.1",
    "127.0.0.1",
    "169.254.169.254",
    "224.0.0.1",
    "::1",
    "::ffff:127.0.0.1",
    "fd12:3456::1",
    "0.0.0.0",
]


def _fetcher(resolver: Resolver, allow: list[str] | None = None) -> SafeFetcher:
    guard = AddressGuard(resolver, parse_networks(allow or []))
    return SafeFetcher(guard, FetchLimits(timeout=2.0, max_redirects=5))


@pytest.fixture
def site() -> Iterator[LocalSite]:
    s = LocalSite().start()
    yield s
    s.stop()


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_addresses_refused_before_connect(url: str) -> None:
    with _fetcher(StaticResolver({})) as fetcher:
        with pytest.raises(FetchError) as err:
            fetcher.fetch(url)
        assert err.value.permanent
        assert fetcher.connections.connected == []


@pytest.mark.parametrize("answer", PRIVATE_ANSWERS)
def test_names_resolving_to_private_addresses_refused(answer: str) -> None:
    with _fetcher(StaticResolver({"evil.test": [answer]})) as fetcher:
        with pytest.raises(FetchError, match="refused"):
            fetcher.fetch("http://evil.test/")
        assert fetcher.connections.connected == []


def test_mixed_public_and_private_answer_refused() -> None:
    guard = AddressGuard(StaticResolver({"mixed.test": ["93.184.216.34", "10.0.0.1"]}))
    with pytest.raises(BlockedAddressError):
        guard.resolve_checked("mixed.test")


def test_public_address_passes_the_check_without_traffic() -> None:
    guard = AddressGuard(StaticResolver({"public.test": ["93.184.216.34", "2606:4700::1"]}))
    assert guard.resolve_checked("public.test") == ["93.184.216.34", "2606:4700::1"]


def test_non_http_schemes_refused() -> None:
    with _fetcher(StaticResolver({})) as fetcher:
        for url in ("file:///etc/passwd", "gopher://127.0.0.1/", "ftp://example.test/"):
            with pytest.raises(FetchError, match="refused URL"):
                fetcher.fetch(url)


@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.1/",
        "http://0x7f000002/",
        "http://2130706434/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.2]/",
        "http://169.254.169.254/",
        "http://internal.test/",
        "http://site.test@10.0.0.1/",
        "http://10.0.0.1#@site.test/",
        "//169.254.169.254/latest",
        "file:///etc/passwd",
    ],
)
def test_redirects_into_private_space_refused(site: LocalSite, target: str) -> None:
    site.redirect("/go", target)
    resolver = StaticResolver({"site.test": ["127.0.0.1"], "internal.test": ["10.0.0.1"]})
    with _fetcher(resolver, ["127.0.0.1/32"]) as fetcher:
        with pytest.raises(FetchError) as err:
            fetcher.fetch(site.url("/go", "site.test"))
        assert err.value.permanent
        assert fetcher.connections.connected == [("127.0.0.1", site.port)]
    assert site.requests == [(f"site.test:{site.port}", "/go")]


def test_redirect_chain_limit(site: LocalSite) -> None:
    for i in range(8):
        site.redirect(f"/r{i}", f"/r{i + 1}")
    with (
        _fetcher(StaticResolver({}), ["127.0.0.1/32"]) as fetcher,
        pytest.raises(FetchError, match="redirects"),
    ):
        fetcher.fetch(site.url("/r0"))
    assert len(site.requests) == 6


def test_dns_rebinding_cannot_reach_private_address(site: LocalSite) -> None:
    """The name answers the (allow-listed) test server first, then a private address.

    Check and connect are one resolution: the first fetch resolves once and connects to the
    checked address with the name as Host; the next connection's answer is refused."""
    site.html("/", "<p>hello</p>")
    resolver = SequenceResolver([["127.0.0.1"], ["10.0.0.1"]])
    with _fetcher(resolver, ["127.0.0.1/32"]) as first:
        assert first.fetch(site.url("/", "rebind.test")).status == 200
        assert first.connections.connected == [("127.0.0.1", site.port)]
    assert resolver.calls == ["rebind.test"]
    assert site.requests == [(f"rebind.test:{site.port}", "/")]
    with _fetcher(resolver, ["127.0.0.1/32"]) as second:
        with pytest.raises(FetchError, match=r"refused non-public address 10\.0\.0\.1"):
            second.fetch(site.url("/", "rebind.test"))
        assert second.connections.connected == []
    assert resolver.calls == ["rebind.test", "rebind.test"]
    assert len(site.requests) == 1


class NoTrafficBackend(httpcore.NetworkBackend):
    """A network backend that records connection attempts and never opens a socket."""

    def __init__(self) -> None:
        self.attempts: list[tuple[str, int]] = []

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        self.attempts.append((host, port))
        raise httpcore.ConnectError("test backend: no traffic leaves this machine")


def test_rebinding_public_then_private_connects_only_to_the_checked_address() -> None:
    """Public answer first: the socket would go to exactly that checked address (recorded,
    never opened); the private second answer is refused before any connect attempt."""
    resolver = SequenceResolver([["93.184.216.34"], ["10.0.0.1"]])
    guard = AddressGuard(resolver)
    network = NoTrafficBackend()
    with SafeFetcher(guard, FetchLimits(timeout=1.0), network=network) as fetcher:
        with pytest.raises(FetchError) as first:
            fetcher.fetch("http://rebind.test/")
        assert not first.value.permanent  # the (recorded) connect failed, nothing refused
        with pytest.raises(FetchError, match="refused non-public address") as second:
            fetcher.fetch("http://rebind.test/")
        assert second.value.permanent
    assert network.attempts == [("93.184.216.34", 80)]
    assert resolver.calls == ["rebind.test", "rebind.test"]


def test_allow_list_does_not_open_other_ranges(site: LocalSite) -> None:
    guard = AddressGuard(StaticResolver({}), parse_networks(["127.0.0.1/32"]))
    guard.check_ip(ipaddress.ip_address("127.0.0.1"))
    for text in ("127.0.0.2", "10.0.0.1", "::1"):
        with pytest.raises(BlockedAddressError):
            guard.check_ip(ipaddress.ip_address(text))


PRIVATE_V4 = [
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16")
]


@st.composite
def private_ipv4_spellings(draw: st.DrawFn) -> str:
    net = draw(st.sampled_from(PRIVATE_V4))
    value = int(net.network_address) + draw(st.integers(0, net.num_addresses - 1))
    octets = list(ipaddress.IPv4Address(value).packed)
    style = draw(st.sampled_from(["int", "hex", "octal", "short", "mapped"]))
    if style == "int":
        return str(value)
    if style == "hex":
        return hex(value)
    if style == "octal":
        return ".".join("0" + format(o, "o") for o in octets)
    if style == "short":
        return f"{octets[0]}.{(value & 0xFFFFFF)}"
    return f"[::ffff:{ipaddress.IPv4Address(value)}]"


@given(private_ipv4_spellings())
def test_every_spelling_of_private_ipv4_is_refused(host: str) -> None:
    guard = AddressGuard(StaticResolver({}))
    literal = ip_literal(host)
    assert literal is not None
    with pytest.raises(BlockedAddressError):
        guard.check_ip(literal)


def test_https_keeps_the_host_name_for_sni_and_certificate(tmp_path: Path) -> None:
    """Connecting to the pinned address must not change TLS: SNI and the certificate check
    use the host name (a certificate for host-a.test, a wrong name is refused)."""
    server_ctx, client_ctx, sni = make_tls(tmp_path, "host-a.test")
    site = LocalSite(tls=server_ctx).start()
    try:
        site.html("/", "<p>tls</p>")
        resolver = StaticResolver({"host-a.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
        guard = AddressGuard(resolver, parse_networks(["127.0.0.1/32"]))
        with SafeFetcher(guard, FetchLimits(timeout=3.0), verify=client_ctx) as fetcher:
            page = fetcher.fetch(site.url("/", "host-a.test"))
            assert page.status == 200 and page.body == b"<p>tls</p>"
            with pytest.raises(FetchError):
                fetcher.fetch(site.url("/", "other.test"))  # certificate is for host-a.test
        assert sni[:2] == ["host-a.test", "other.test"]
        assert site.requests == [(f"host-a.test:{site.port}", "/")]
    finally:
        site.stop()


@pytest.mark.parametrize(
    ("text", "network", "port"),
    [
        ("127.0.0.1:8080", "127.0.0.1/32", 8080),
        ("[::1]:8080", "::1/128", 8080),
        ("127.0.0.0/8", "127.0.0.0/8", None),
        ("10.0.0.0/8:443", "10.0.0.0/8", 443),
        ("::1", "::1/128", None),
        ("[fd00::/8]", "fd00::/8", None),
    ],
)
def test_allow_list_entries_take_an_optional_port(
    text: str, network: str, port: int | None
) -> None:
    entry = parse_allow_entry(text)
    assert (str(entry.network), entry.port) == (network, port)


@pytest.mark.parametrize(
    "text", ["127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:x", "[::1", "[::1]8080", "host:80", ""]
)
def test_bad_allow_list_entries_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_allow_entry(text)


def test_settings_refuse_bad_allow_list_entries_with_a_message() -> None:
    assert Settings(crawler_allow_networks=["[::1]:8080", "127.0.0.1:80"])
    with pytest.raises(ValidationError, match="or one port"):
        Settings(crawler_allow_networks=["127.0.0.1:99999"])


def test_allowing_one_address_and_port_does_not_open_its_other_ports() -> None:
    """Issue 12: allowing 127.0.0.1:8080 allowed every port on 127.0.0.1."""
    first, second = LocalSite().start(), LocalSite().start()
    try:
        first.html("/", "<p>one</p>")
        second.html("/", "<p>two</p>")
        with _fetcher(StaticResolver({}), [f"127.0.0.1:{first.port}"]) as fetcher:
            assert fetcher.fetch(first.url("/")).body == b"<p>one</p>"
            with pytest.raises(FetchError, match="refused non-public address") as err:
                fetcher.fetch(second.url("/"))
            assert err.value.permanent
            assert fetcher.connections.connected == [("127.0.0.1", first.port)]
        assert second.requests == []
    finally:
        first.stop()
        second.stop()


def test_a_redirect_to_another_port_of_an_allowed_address_is_refused(site: LocalSite) -> None:
    site.redirect("/go", "http://127.0.0.1:1/")
    with _fetcher(StaticResolver({}), [f"127.0.0.1:{site.port}"]) as fetcher:
        with pytest.raises(FetchError, match=r"port 1\)") as err:
            fetcher.fetch(site.url("/go"))
        assert err.value.permanent


def test_a_port_entry_never_admits_a_check_without_a_port() -> None:
    guard = AddressGuard(StaticResolver({}), parse_networks(["127.0.0.1:8080"]))
    guard.check_ip(ipaddress.ip_address("127.0.0.1"), 8080)
    with pytest.raises(BlockedAddressError):
        guard.check_ip(ipaddress.ip_address("127.0.0.1"))
    with pytest.raises(BlockedAddressError):
        guard.check_ip(ipaddress.ip_address("127.0.0.1"), 8081)

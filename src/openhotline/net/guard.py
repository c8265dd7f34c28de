"""SSRF guard: resolve names ourselves and refuse non-public addresses unless allow-listed."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Protocol

import dns.exception
import dns.resolver

from openhotline.netaddr import AllowEntry, IPAddress, IPNetwork, parse_allow_entry
from openhotline.urls import InvalidURLError, parse_ipv4_host


class BlockedAddressError(Exception):
    """A host or address the crawler must not connect to; raised before any connection."""


class ResolutionError(Exception):
    """A host name did not resolve: NXDOMAIN/no records (definitive) or a DNS failure."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class Resolver(Protocol):
    """Name to addresses (A and AAAA), as text."""

    def resolve(self, host: str) -> list[str]:
        """Return the IP addresses of host (empty when it has none)."""
        ...


class DnsResolver:
    """The real resolver: dnspython A and AAAA queries (never /etc/hosts, never the OS)."""

    def __init__(
        self, timeout: float = 5.0, nameservers: list[str] | None = None, port: int = 53
    ) -> None:
        # configure=False when servers are given: never read the system's resolv.conf then.
        self._resolver = dns.resolver.Resolver(configure=not nameservers)
        if nameservers:
            self._resolver.nameservers = list(nameservers)
            self._resolver.port = port
        self._resolver.lifetime = timeout

    def resolve(self, host: str) -> list[str]:
        """Return the A and AAAA answers for host."""
        out: list[str] = []
        for rdtype in ("A", "AAAA"):
            try:
                answer = self._resolver.resolve(host, rdtype, search=False)
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                continue
            except (dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
                # SERVFAIL or no answer in time: says nothing about whether the name exists.
                raise ResolutionError(f"DNS failure for {host}: {exc}", transient=True) from exc
            out.extend(r.to_text() for r in answer)
        return out


class StaticResolver:
    """Fixed answers for some names (like an /etc/hosts override), else a fallback resolver."""

    def __init__(self, answers: Mapping[str, list[str]], fallback: Resolver | None = None) -> None:
        self._answers = {k.lower().rstrip("."): list(v) for k, v in answers.items()}
        self._fallback = fallback

    def resolve(self, host: str) -> list[str]:
        """Return the configured answers for host, else ask the fallback."""
        key = host.lower().rstrip(".")
        if key in self._answers:
            return list(self._answers[key])
        if self._fallback is None:
            return []
        return self._fallback.resolve(host)


def ip_literal(host: str) -> IPAddress | None:
    """Return the address a host spells literally (any WHATWG IPv4 form, [v6]), else None."""
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.split("%", 1)[0]  # zone ids never make an address acceptable
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    try:
        dotted = parse_ipv4_host(text.lower())
    except InvalidURLError as exc:
        raise BlockedAddressError(f"invalid numeric host {host!r}") from exc
    return ipaddress.IPv4Address(dotted) if dotted else None


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr.teredo is not None:
        return addr.teredo[1]
    if addr in ipaddress.IPv6Network("64:ff9b::/96"):  # NAT64 well-known prefix
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def parse_networks(items: Iterable[str]) -> list[AllowEntry]:
    """Parse allow-list entries such as '127.0.0.0/8' or '127.0.0.1:8080' (ValueError if bad)."""
    return [parse_allow_entry(item) for item in items]


class AddressGuard:
    """Decides which addresses may be connected to, and resolves names through a Resolver."""

    def __init__(self, resolver: Resolver, allow: Iterable[AllowEntry | IPNetwork] = ()) -> None:
        self.resolver = resolver
        self.allow = [a if isinstance(a, AllowEntry) else AllowEntry(a) for a in allow]

    def _allowed(self, addr: IPAddress, port: int | None) -> bool:
        return any(entry.admits(addr, port) for entry in self.allow)

    def check_ip(self, addr: IPAddress, port: int | None = None) -> None:
        """Raise BlockedAddressError unless addr is public or allow-listed (for port)."""
        if self._allowed(addr, port):
            return
        if isinstance(addr, ipaddress.IPv6Address):
            inner = _embedded_ipv4(addr)
            if inner is not None:
                self.check_ip(inner, port)
                return
        bad = (
            addr.is_private
            or addr.is_loopback
            or addr.is_link_local
            or addr.is_multicast
            or addr.is_reserved
            or addr.is_unspecified
            or not addr.is_global
        )
        if bad:
            where = f"{addr}" if port is None else f"{addr} (port {port})"
            raise BlockedAddressError(f"refused non-public address {where}")

    def resolve_checked(self, host: str, port: int | None = None) -> list[str]:
        """Resolve host and check every answer (for port); return the addresses to use."""
        literal = ip_literal(host)
        if literal is not None:
            self.check_ip(literal, port)
            return [str(literal)]
        answers = self.resolver.resolve(host)
        if not answers:
            raise ResolutionError(f"{host} does not resolve")
        addrs: list[IPAddress] = []
        for text in answers:
            try:
                addrs.append(ipaddress.ip_address(text))
            except ValueError as exc:
                raise BlockedAddressError(f"resolver gave a non-address {text!r}") from exc
        # One bad answer refuses the name: a mixed answer is a classic rebinding trick.
        for addr in addrs:
            self.check_ip(addr, port)
        return [str(a) for a in addrs]

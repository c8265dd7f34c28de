"""Crawler allow-list entries ('127.0.0.0/8', '127.0.0.1:8080', '[::1]:8080').

A shared, dependency-free module so that settings can validate entries with the same parser
the SSRF guard uses (net/guard.py) without the settings layer importing the crawler.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class AllowEntry:
    """One allow-list entry: a network, and the one port it opens (None: every port)."""

    network: IPNetwork
    port: int | None = None

    def admits(self, addr: IPAddress, port: int | None) -> bool:
        """True when addr (connected to on port; None: any port) falls under this entry."""
        if addr.version != self.network.version or addr not in self.network:
            return False
        # An entry with a port never admits a check that does not name the port it is for.
        return self.port is None or self.port == port


def parse_allow_entry(item: str) -> AllowEntry:
    """Parse '127.0.0.0/8', '127.0.0.1:8080', '[::1]:8080' or '::1' (ValueError if bad)."""
    text = item.strip()
    port_text: str | None = None
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ValueError(f"unclosed '[' in {item!r}")
        rest = text[close + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError(f"unexpected text after ']' in {item!r}")
        network_text, port_text = text[1:close], (rest[1:] if rest else None)
    elif text.count(":") == 1:  # IPv4 (or IPv4 network) with a port; bare IPv6 has >= 2
        network_text, port_text = text.split(":")
    else:
        network_text = text
    network = ipaddress.ip_network(network_text, strict=False)
    if port_text is None:
        return AllowEntry(network)
    if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"invalid port in {item!r}")
    return AllowEntry(network, int(port_text))

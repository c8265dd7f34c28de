"""Known CDN address ranges (a shipped data file plus settings), to flag fronted hosting."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from importlib import resources

from openhotline.netaddr import IPNetwork


class CdnRanges:
    """Answers which CDN, if any, announces an address."""

    def __init__(self, ranges: Mapping[str, list[str]]) -> None:
        self._nets: list[tuple[IPNetwork, str]] = [
            (ipaddress.ip_network(cidr, strict=False), name)
            for name, cidrs in ranges.items()
            for cidr in cidrs
        ]

    @classmethod
    def shipped(cls, extra: Mapping[str, list[str]] | None = None) -> CdnRanges:
        """The ranges in cdn_ranges.json, plus extra ones from settings."""
        text = resources.files("openhotline.trace").joinpath("cdn_ranges.json").read_text()
        ranges: dict[str, list[str]] = json.loads(text)["ranges"]
        for name, cidrs in (extra or {}).items():
            ranges.setdefault(name, []).extend(cidrs)
        return cls(ranges)

    def cdn_for(self, ip: str) -> str | None:
        """Return the CDN name for ip, or None."""
        addr = ipaddress.ip_address(ip)
        for net, name in self._nets:
            if addr.version == net.version and addr in net:
                return name
        return None

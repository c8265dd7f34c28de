"""Abuse contacts from RDAP (RFC 9083 JSON over HTTPS), for IP networks and domains."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

# An address we are willing to put in a To: header (no spaces, commas, brackets or newlines).
EMAIL_RE = re.compile(r"^[^@\s<>,;:\"()\[\]]{1,64}@[A-Za-z0-9.-]{1,253}$")


class RdapError(Exception):
    """The RDAP service could not answer."""


@dataclass
class RdapNetwork:
    """The network an address belongs to, with its abuse e-mail addresses."""

    handle: str | None = None
    name: str | None = None
    cidr: str | None = None
    country: str | None = None
    abuse_emails: list[str] = field(default_factory=list)


class Rdap(Protocol):
    """RDAP look-ups."""

    def ip(self, address: str) -> RdapNetwork:
        """Return the network of an address."""
        ...

    def registrar_abuse(self, domain: str) -> str | None:
        """Return the abuse e-mail of a domain's registrar, if known."""
        ...


def _vcard_emails(entity: dict[str, Any]) -> list[str]:
    card = entity.get("vcardArray")
    if not (isinstance(card, list) and len(card) == 2 and isinstance(card[1], list)):
        return []
    out = []
    for prop in card[1]:
        is_email = isinstance(prop, list) and len(prop) >= 4 and prop[0] == "email"
        if is_email and isinstance(prop[3], str) and EMAIL_RE.fullmatch(prop[3].strip()):
            out.append(prop[3].strip())
    return out


def abuse_emails(obj: dict[str, Any], roles: tuple[str, ...] = ("abuse",)) -> list[str]:
    """Collect e-mails of entities (nested too) having one of roles, in document order."""
    found: list[str] = []
    entities = obj.get("entities")
    for entity in entities if isinstance(entities, list) else []:
        if not isinstance(entity, dict):
            continue
        entity_roles = entity.get("roles")
        if not isinstance(entity_roles, list):
            entity_roles = []
        if {r for r in entity_roles if isinstance(r, str)} & set(roles):
            found.extend(_vcard_emails(entity))
        found.extend(abuse_emails(entity, roles))
    return list(dict.fromkeys(found))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_ip_network(data: dict[str, Any]) -> RdapNetwork:
    """Read an RFC 9083 'ip network' object (malformed fields are ignored, never fatal)."""
    cidr = None
    cidrs = data.get("cidr0_cidrs")
    if isinstance(cidrs, list) and cidrs and isinstance(cidrs[0], dict):
        prefix = _text(cidrs[0].get("v4prefix")) or _text(cidrs[0].get("v6prefix"))
        length = cidrs[0].get("length")
        if prefix and isinstance(length, int) and not isinstance(length, bool):
            cidr = f"{prefix}/{length}"
    start, end = _text(data.get("startAddress")), _text(data.get("endAddress"))
    if cidr is None and start:
        cidr = f"{start} - {end or start}"
    return RdapNetwork(
        handle=_text(data.get("handle")),
        name=_text(data.get("name")),
        cidr=cidr,
        country=_text(data.get("country")),
        abuse_emails=abuse_emails(data),
    )


class HttpRdap:
    """RDAP over HTTP(S) with httpx; base_url is a bootstrap redirector or a server."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = httpx.Client(
            timeout=timeout,
            follow_redirects=True,
            trust_env=False,
            headers={"Accept": "application/rdap+json"},
        )

    def _get(self, path: str) -> dict[str, Any] | None:
        try:
            resp = self.client.get(f"{self.base_url}/{path}")
        except httpx.HTTPError as exc:
            raise RdapError(f"RDAP {path}: {exc}") from exc
        if resp.status_code == 404:
            return None
        if resp.status_code >= 400:
            raise RdapError(f"RDAP {path}: HTTP {resp.status_code}")
        try:
            data = resp.json()
        except ValueError as exc:
            raise RdapError(f"RDAP {path}: not JSON") from exc
        return data if isinstance(data, dict) else None

    def ip(self, address: str) -> RdapNetwork:
        """Look up the network of an address."""
        data = self._get(f"ip/{address}")
        return parse_ip_network(data) if data else RdapNetwork()

    def registrar_abuse(self, domain: str) -> str | None:
        """Look up the registrar's abuse contact, trying parent domains down to two labels."""
        labels = domain.rstrip(".").split(".")
        for i in range(len(labels) - 1):
            data = self._get("domain/" + ".".join(labels[i:]))
            if data:
                emails = abuse_emails(data)
                return emails[0] if emails else None
        return None

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()

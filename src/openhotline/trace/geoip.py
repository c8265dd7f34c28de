"""Country and ASN of an address from MaxMind-format databases (GeoLite2 Country/ASN)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import maxminddb


@dataclass(frozen=True)
class GeoRecord:
    """What the databases say about one address (None where unknown)."""

    country: str | None = None
    asn: int | None = None
    as_org: str | None = None


class GeoIP(Protocol):
    """Address to country and ASN."""

    def lookup(self, ip: str) -> GeoRecord:
        """Return the country and ASN of ip."""
        ...


class MaxMindGeoIP:
    """Reads a country database and an ASN database (they may be the same file)."""

    def __init__(self, country_db: Path | None, asn_db: Path | None) -> None:
        self._country = maxminddb.open_database(str(country_db)) if country_db else None
        if asn_db and asn_db == country_db:
            self._asn = self._country
        else:
            self._asn = maxminddb.open_database(str(asn_db)) if asn_db else None

    @staticmethod
    def _get(reader: Any, ip: str) -> dict[str, Any]:
        if reader is None:
            return {}
        found = reader.get(ip)
        return found if isinstance(found, dict) else {}

    def lookup(self, ip: str) -> GeoRecord:
        """Return the country (ISO code) and ASN of ip."""
        c = self._get(self._country, ip)
        country = (c.get("country") or c.get("registered_country") or {}).get("iso_code")
        a = self._get(self._asn, ip)
        asn = a.get("autonomous_system_number")
        return GeoRecord(
            country=str(country).upper() if country else None,
            asn=int(asn) if isinstance(asn, int) else None,
            as_org=a.get("autonomous_system_organization"),
        )

    def close(self) -> None:
        """Close the database files."""
        for reader in {id(r): r for r in (self._country, self._asn) if r is not None}.values():
            reader.close()

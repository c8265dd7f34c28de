"""The worker's tick hook: scan new items for material of known series."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from openhotline.db import transaction
from openhotline.federation.service import own_country
from openhotline.federation.tasks import SENDER_HEADER
from openhotline.victimid import package, scan, service

if TYPE_CHECKING:
    from openhotline.bootstrap import Services


def police_channel(services: Services) -> scan.PoliceChannel | None:
    """The configured police partner for victim identification, or None."""
    s = services.settings
    if not s.victimid_police_partner:
        return None
    return scan.PoliceChannel(s.victimid_police_partner, services.signer, s.hotline_name)


def scan_new_material(services: Services) -> scan.ScanResult:
    """Match items added since the last run against the series (alerts, police packages)."""
    total = scan.ScanResult()
    while True:
        with transaction(services.sessionmaker) as session:
            result = scan.scan(
                session,
                services.matcher,
                radius=services.settings.victimid_pdq_radius,
                police=police_channel(services),
            )
        total.items += result.items
        total.matches += result.matches
        total.alerts += result.alerts
        total.packages += result.packages
        if result.items < scan.BATCH:
            return total


INCOMING_PATH = "/api/v1/victimid/packages/incoming"
PACKAGE_KEY_HEADER = "X-Openhotline-Package-Key"


def send_series(
    services: Services,
    series_id: int,
    country: str,
    *,
    actor: str,
    media: bool = False,
    clues: bool = False,
    client: httpx.Client | None = None,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Export a series and hand it to the partner hotline of `country` (its import answer).

    The package is signed (manifest.sig); the peer checks it with our configured public key.
    Media (only where export_include_media and the peer's allow_media permit it) and clues
    are encrypted under a key made for this package, sent beside it in a header.
    """
    settings = services.settings
    country = country.upper()
    peer = settings.federation_peers.get(country)
    if peer is None:
        raise service.VictimIdInvalidError(f"no partner hotline configured for {country}")
    if media and not (settings.export_include_media and peer.allow_media):
        raise service.VictimIdInvalidError(
            f"media may not go to {country} (export_include_media and the peer's allow_media)"
        )
    with transaction(services.sessionmaker) as session:
        built = package.export_series(
            session, service.get_series(session, series_id), services.signer, actor=actor,
            hotline=settings.hotline_name, store=services.media_store,
            cipher=services.victimid_cipher, include_media=media, include_clues=clues,
            reason=f"sent to {country}",
        )  # fmt: skip
    headers = {
        "Authorization": f"Bearer {peer.api_key}",
        "Content-Type": "application/zip",
        SENDER_HEADER: own_country(settings),
    }
    if built.key:
        headers[PACKAGE_KEY_HEADER] = built.key
    own = client or httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False)
    try:
        response = own.post(peer.base_url.rstrip("/") + INCOMING_PATH, content=built.data,
                            headers=headers)  # fmt: skip
    except httpx.HTTPError as exc:
        raise service.VictimIdConflictError(f"{country} could not be reached: {exc}") from exc
    finally:
        if client is None:
            own.close()
    if response.status_code // 100 != 2:
        raise service.VictimIdConflictError(
            f"{country} refused the package: HTTP {response.status_code} {response.text[:300]}"
        )
    answer: dict[str, Any] = response.json()
    return answer

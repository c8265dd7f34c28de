"""GET /metrics for Prometheus: only from the networks in metrics_allow_networks."""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, Request
from fastapi.responses import Response

from openhotline.errors import ForbiddenError
from openhotline.stats.metrics import CONTENT_TYPE, render
from openhotline.web.deps import DbDep, SettingsDep

# Not under the public rate limit (a scraper polls it) and not in the OpenAPI schema.
router = APIRouter(include_in_schema=False)


def _allowed(host: str | None, networks: list[str]) -> bool:
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(n, strict=False) for n in networks)


@router.get("/metrics")
def metrics(request: Request, db: DbDep, settings: SettingsDep) -> Response:
    """Operational counts in the Prometheus text format (no content, no identities)."""
    host = request.client.host if request.client else None
    if not _allowed(host, settings.metrics_allow_networks):
        raise ForbiddenError("metrics are only served to the configured networks")
    return Response(render(db), media_type=CONTENT_TYPE)

"""JSON routes of victim identification: series packages, known-series lists, police channel.

Staff routes need the victim-identification permissions; a partner hotline sends series
packages with its key (scope referrals.receive) and its Ed25519 signature; the police partner
fetches its packages with its key.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.capture.tasks import matcher as capture_matcher
from openhotline.errors import ForbiddenError
from openhotline.federation.tasks import SENDER_HEADER
from openhotline.media.api import MEDIA_BODY_LIMIT
from openhotline.partners.deps import require_scope
from openhotline.partners.models import OrgKind, Scope
from openhotline.partners.service import PartnerIdentity
from openhotline.victimid import known, package, scan, service
from openhotline.victimid.tasks import PACKAGE_KEY_HEADER
from openhotline.web.deps import DbDep, SettingsDep, services_of
from openhotline.web.params import DbId

router = APIRouter(prefix="/api/v1/victimid", tags=["victim identification"])
Viewer = Annotated[Principal, Depends(require(Permission.VICTIMID_VIEW))]
Manager = Annotated[Principal, Depends(require(Permission.VICTIMID_MANAGE))]
Exporter = Annotated[Principal, Depends(require(Permission.VICTIMID_EXPORT))]
PartnerKey = Annotated[PartnerIdentity, Depends(require_scope(Scope.RECEIVE_REFERRALS))]
MAX_PACKAGE_BYTES = MEDIA_BODY_LIMIT  # the app's body limit on these paths


async def _body(request: Request, limit: int) -> bytes:
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        raise service.VictimIdInvalidError(
            "send the file itself as the request body (text/csv, application/json or "
            "application/zip), not a form"
        )
    data = await request.body()
    if len(data) > limit:
        raise service.VictimIdInvalidError(f"the body is larger than {limit // 2**20} MiB")
    if not data:
        raise service.VictimIdInvalidError("the body is empty")
    return data


@router.get("/series", summary="Series with their victim status and counts")
def list_series(principal: Viewer, db: DbDep) -> list[dict[str, Any]]:
    """Every live series (no notes or clues here)."""
    with db() as s:
        return [
            {
                "id": r.series.id, "reference": r.series.reference, "kind": r.series.kind.value,
                "victim_status": r.series.victim_status.value, "origin": r.series.origin,
                "items": r.items, "open_suggestions": r.open_suggestions,
                "open_alerts": r.open_alerts,
            }
            for r in service.list_series(s)
        ]  # fmt: skip


@router.post("/series/{series_id}/export", summary="Signed ICSE-style package of a series")
def export(
    request: Request,
    principal: Exporter,
    series_id: DbId,
    db: DbDep,
    settings: SettingsDep,
    media: bool = False,
    clues: bool = False,
) -> Response:
    """The zip; with media or clues the package key comes once, in a header."""
    if media and not settings.export_include_media:
        raise ForbiddenError("exports with media are not permitted here (export_include_media)")
    if clues and not principal.can(Permission.VICTIMID_CLUES):
        raise ForbiddenError("only the victim-identification role exports notes and clues")
    services = services_of(request)
    with db.begin() as s:
        built = package.export_series(
            s, service.get_series(s, series_id), services.signer, actor=principal.actor,
            hotline=settings.hotline_name, store=services.media_store,
            cipher=services.victimid_cipher, include_media=media, include_clues=clues,
        )  # fmt: skip
    headers = {
        "Content-Disposition": f'attachment; filename="series-{series_id}-{built.export_id}.zip"',
        "Cache-Control": "no-store",
    }
    if built.key:
        headers[PACKAGE_KEY_HEADER] = built.key
    return Response(built.data, media_type="application/zip", headers=headers)


@router.post("/known-lists/{bank}", summary="Import a known-series list (CSV or JSON)")
async def import_known_list(
    request: Request, principal: Manager, bank: str, db: DbDep, source: str = ""
) -> dict[str, Any]:
    """Hashes labelled with series references go into the bank; each reference is a series."""
    data = await _body(request, known.MAX_LIST_BYTES)
    fmt = "json" if "json" in request.headers.get("content-type", "") else ""
    entries, bad = known.parse_list(data, fmt)

    def store() -> dict[str, Any]:
        with db.begin() as s:
            r = known.import_list(s, bank, entries, actor=principal.actor, source=source)
        return {"bank": r.bank, "series_created": r.series_created,
                "series_updated": r.series_updated, "added": r.added,
                "duplicates": r.duplicates, "bad": bad[:20], "bad_count": len(bad)}  # fmt: skip

    return await run_in_threadpool(store)


@router.post("/packages/incoming", summary="Receive a series package from a partner hotline")
async def receive_package(
    request: Request, partner: PartnerKey, settings: SettingsDep, db: DbDep
) -> dict[str, Any]:
    """Verified with the sending hotline's configured public key; re-sending refreshes."""
    sender = request.headers.get(SENDER_HEADER, "").upper()
    peer = settings.federation_peers.get(sender)
    if peer is None:
        raise ForbiddenError(f"no partner hotline configured for {sender or '(no sender)'}")
    if partner.kind is not None and (
        partner.kind != OrgKind.HOTLINE or (partner.country or sender) != sender
    ):
        raise ForbiddenError("this API key does not belong to that partner hotline")
    data = await _body(request, MAX_PACKAGE_BYTES)
    services = services_of(request)
    cipher = services.victimid_cipher
    # The package key travels beside the package (a header), never inside it; media is
    # taken only where both hotlines allow it.
    key = request.headers.get(PACKAGE_KEY_HEADER, "")
    media = settings.federation_allow_media and peer.allow_media

    def store() -> dict[str, Any]:
        with db.begin() as s:
            r = package.import_series(
                s, data, peer.public_key, actor=partner.actor, sender=sender, cipher=cipher,
                package_key=key, store=services.media_store if media else None,
                matcher=capture_matcher(services), max_media_bytes=settings.crawler_max_media_bytes,
            )  # fmt: skip
        return {"series_id": r.series_id, "reference": r.reference, "created": r.created,
                "hashes_added": r.hashes_added, "clues": r.clues,
                "media_items": r.media_items}  # fmt: skip

    return await run_in_threadpool(store)


def _police(partner: PartnerIdentity, settings: Any) -> str:
    if partner.kind != OrgKind.POLICE:
        raise ForbiddenError("only a police partner's key fetches victim-identification packages")
    if partner.name != settings.victimid_police_partner:
        raise ForbiddenError("this police partner receives no victim-identification packages")
    return partner.name


@router.get("/packages", summary="Victim-identification packages for the police partner")
def police_packages(partner: PartnerKey, settings: SettingsDep, db: DbDep) -> list[dict[str, Any]]:
    """Packages raised by alerts, newest first."""
    name = _police(partner, settings)
    with db() as s:
        return [
            {"export_id": p.export_id, "series_id": p.series_id, "reason": p.reason,
             "created_at": p.created_at.isoformat(),
             "fetched_at": p.fetched_at.isoformat() if p.fetched_at else None}
            for p in scan.packages_for(s, name)
        ]  # fmt: skip


@router.get("/packages/{export_id}", summary="One signed package (zip) for the police partner")
def police_package(
    partner: PartnerKey, export_id: str, settings: SettingsDep, db: DbDep
) -> Response:
    """The zip, verifiable with this hotline's public key."""
    name = _police(partner, settings)
    with db.begin() as s:
        data = scan.fetch_package(s, name, export_id[:36], actor=partner.actor)
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="vid-{export_id[:36]}.zip"',
                 "Cache-Control": "no-store"},
    )  # fmt: skip

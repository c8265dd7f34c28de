"""JSON routes of the lists: partner downloads (scoped keys, audited) and publishing."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.audit.models import AuditAction
from openhotline.blocklist import service
from openhotline.blocklist.models import ListKind
from openhotline.errors import ForbiddenError, NotFoundError
from openhotline.partners.deps import partner_key
from openhotline.partners.models import Scope
from openhotline.partners.service import PartnerIdentity, use
from openhotline.signing.service import SigningKey
from openhotline.web.deps import DbDep, SettingsDep, services_of

router = APIRouter(prefix="/api/v1/lists", tags=["lists"])

SCOPE_OF = {ListKind.URLS: Scope.READ_URL_LIST, ListKind.HASHES: Scope.READ_HASH_LIST}
MEDIA = {"csv": "text/csv; charset=utf-8", "json": "application/json", "hma": "text/plain"}
SNAPSHOT = re.compile(r"^v?(\d{1,9})\.(csv|json|hma)(\.sig)?$")
DELTA = re.compile(r"^v?(\d{1,9})-v?(\d{1,9})\.(csv|json)(\.sig)?$")


async def list_reader(
    kind: str, partner: Annotated[PartnerIdentity, Depends(partner_key)]
) -> tuple[ListKind, PartnerIdentity]:
    """A partner key with the read scope of the list named in the path."""
    parsed = service.parse_kind(kind)
    if SCOPE_OF[parsed] not in partner.scopes:
        raise ForbiddenError(f"this API key lacks the scope {SCOPE_OF[parsed].value}")
    return parsed, partner


Reader = Annotated[tuple[ListKind, PartnerIdentity], Depends(list_reader)]


async def signing_key(request: Request) -> SigningKey:
    """The hotline's signing key (wired in app.py)."""
    return services_of(request).signer


KeyDep = Annotated[SigningKey, Depends(signing_key)]


def _serve(file: service.SignedFile, sig: bool, fmt: str) -> Response:
    headers = {
        "X-Openhotline-Signature": file.signature,
        "X-Openhotline-Key-Id": file.key_id,
        "Content-Disposition": f'attachment; filename="{file.name}{".sig" if sig else ""}"',
        "Cache-Control": "no-store",
    }
    if sig:
        return Response(file.signature + "\n", media_type="text/plain", headers=headers)
    if file.path is not None:  # streamed from the cache file, never loaded whole
        return FileResponse(file.path, media_type=MEDIA[fmt], headers=headers)
    return Response(file.data, media_type=MEDIA[fmt], headers=headers)


@router.get("/{kind}", summary="The latest version of a list and the key that signs it")
def list_info(reader: Reader, db: DbDep, key: KeyDep) -> dict[str, Any]:
    """Latest version number, counts and the public key to verify files with."""
    kind, _partner = reader
    with db.begin() as s:
        row = service.latest(s, kind)
        return {
            "list": kind.value,
            "version": row.version if row else 0,
            "created_at": row.created_at.isoformat() if row else None,
            "count": row.entry_count if row else 0,
            "public_key": key.public_b64,
            "key_id": key.key_id,
            "formats": ["csv", "json", "hma"] if kind == ListKind.HASHES else ["csv", "json"],
        }


@router.get(
    "/{kind}/snapshot/{name}",
    summary="A signed snapshot: 5.csv, 5.json, 5.hma (HMA local file, hashes), 5.csv.sig",
)
def snapshot(reader: Reader, name: str, db: DbDep, key: KeyDep, settings: SettingsDep) -> Response:
    """One version in full; add .sig for its detached Ed25519 signature."""
    kind, partner = reader
    match = SNAPSHOT.match(name)
    if not match:
        raise NotFoundError("file names look like 5.csv, 5.json, 5.hma or 5.csv.sig")
    version, fmt, sig = int(match[1]), match[2], bool(match[3])
    with db.begin() as s:
        file = service.snapshot_file(s, kind, version, fmt, key, settings.data_dir / "lists")
        use(s, partner, AuditAction.LIST_DOWNLOAD, f"list:{kind}:v{version}", file=name)
    return _serve(file, sig, fmt)


@router.get("/{kind}/delta/{name}", summary="A signed delta: 3-5.csv (added/removed since 3)")
def delta(reader: Reader, name: str, db: DbDep, key: KeyDep, settings: SettingsDep) -> Response:
    """What changed from one version to another; add .sig for the signature."""
    kind, partner = reader
    match = DELTA.match(name)
    if not match:
        raise NotFoundError("delta names look like 3-5.csv, 3-5.json or 3-5.json.sig")
    since, version, fmt, sig = int(match[1]), int(match[2]), match[3], bool(match[4])
    with db.begin() as s:
        file = service.delta_file(s, kind, since, version, fmt, key, settings.data_dir / "lists")
        use(s, partner, AuditAction.LIST_DOWNLOAD, f"list:{kind}:v{since}-v{version}", file=name)
    return _serve(file, sig, fmt)


@router.post("/publish", summary="Publish new list versions now (staff)")
def publish(
    principal: Annotated[Principal, Depends(require(Permission.LISTS_PUBLISH))],
    db: DbDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Rebuild both lists from confirmed cases and items; unchanged lists keep their version."""
    with db.begin() as s:
        versions = service.publish_lists(
            s,
            exclude_countries=service.excluded_countries(settings),
            actor=principal.actor,
            provenance=settings.hotline_name,
        )
        return {
            k.value: {
                "version": v.version,
                "count": v.entry_count,
                "added": v.added_count,
                "removed": v.removed_count,
            }
            for k, v in versions.items()
        }

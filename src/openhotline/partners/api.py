"""Admin JSON routes: partner organisations and their API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.partners import service
from openhotline.partners.models import ApiKey, PartnerOrg
from openhotline.partners.schemas import KeyIn, KeyOut, NewKeyOut, OrgIn, OrgOut
from openhotline.web.deps import DbDep, JsonBody, json_body_doc
from openhotline.web.errors import validate_as
from openhotline.web.params import DbId

router = APIRouter(prefix="/api/v1/admin", tags=["partners (admin)"])
Manager = Annotated[Principal, Depends(require(Permission.PARTNERS_MANAGE))]


def key_out(key: ApiKey) -> KeyOut:
    """Describe a key without its secret."""
    return KeyOut(
        id=key.id,
        prefix=key.prefix,
        scopes=key.scopes.split(),
        ip_allow=key.ip_allow.split(),
        label=key.label,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


def org_out(org: PartnerOrg) -> OrgOut:
    """Describe an organisation and its keys."""
    return OrgOut(
        id=org.id,
        name=org.name,
        kind=org.kind,
        country=org.country,
        active=org.active,
        keys=[key_out(k) for k in org.keys],
    )


def _new_key_out(key: ApiKey, token: str) -> NewKeyOut:
    return NewKeyOut(**key_out(key).model_dump(), key=token)


@router.get("/partners", response_model=list[OrgOut], summary="List partner organisations")
def list_partners(principal: Manager, db: DbDep) -> list[OrgOut]:
    """Every organisation with its keys (no secrets)."""
    with db.begin() as s:
        return [org_out(o) for o in service.list_orgs(s)]


@router.post(
    "/partners",
    status_code=201,
    response_model=OrgOut,
    summary="Add an organisation",
    openapi_extra=json_body_doc(OrgIn),
)
def add_partner(principal: Manager, body: JsonBody, db: DbDep) -> OrgOut:
    """Create a partner organisation."""
    data = validate_as(OrgIn, body, "invalid organisation")
    with db.begin() as s:
        org = service.create_org(s, data.name, data.kind, data.country, actor=principal.actor)
        return org_out(org)


@router.post(
    "/partners/{org_id}/keys",
    status_code=201,
    response_model=NewKeyOut,
    summary="New API key",
    openapi_extra=json_body_doc(KeyIn),
)
def new_key(principal: Manager, org_id: DbId, body: JsonBody, db: DbDep) -> NewKeyOut:
    """Create a key; the response is the only time the key is shown."""
    data = validate_as(KeyIn, body, "invalid key request")
    with db.begin() as s:
        org = service.get_org(s, org_id)
        key, token = service.create_key(
            s, org, data.scopes, actor=principal.actor, ip_allow=data.ip_allow, label=data.label
        )
        return _new_key_out(key, token)


@router.post("/partner-keys/{key_id}/revoke", response_model=KeyOut, summary="Revoke a key")
def revoke(principal: Manager, key_id: DbId, db: DbDep) -> KeyOut:
    """Revoke a key at once."""
    with db.begin() as s:
        return key_out(service.revoke_key(s, key_id, actor=principal.actor))


@router.post("/partner-keys/{key_id}/rotate", response_model=NewKeyOut, summary="Rotate a key")
def rotate(principal: Manager, key_id: DbId, db: DbDep) -> NewKeyOut:
    """Replace a key by a new one with the same scopes; the old one stops working."""
    with db.begin() as s:
        key, token = service.rotate_key(s, key_id, actor=principal.actor)
        return _new_key_out(key, token)

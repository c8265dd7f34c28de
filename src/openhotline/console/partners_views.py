"""HTML routes: the administrators' page for partner organisations and their keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.console.pages import render
from openhotline.partners import service
from openhotline.partners.models import OrgKind, Scope
from openhotline.web.deps import DbDep
from openhotline.web.errors import html_status
from openhotline.web.params import DbId

router = APIRouter(prefix="/console", include_in_schema=False)
Manager = Annotated[Principal, Depends(require(Permission.PARTNERS_MANAGE))]


def _page(
    request: Request,
    principal: Principal,
    db: DbDep,
    status: int = 200,
    errors: list[str] | None = None,
    new_key: str = "",
) -> HTMLResponse:
    with db.begin() as s:
        orgs = service.list_orgs(s)
        for org in orgs:
            _ = org.keys  # load before the session closes
        s.expunge_all()
    return render(
        request,
        "console/partners.html",
        principal,
        status,
        orgs=orgs,
        errors=errors or [],
        new_key=new_key,
        kinds=[k.value for k in OrgKind],
        scopes=[s.value for s in Scope],
    )


@router.get("/partners", response_class=HTMLResponse)
def partners_page(request: Request, principal: Manager, db: DbDep) -> Response:
    """Organisations, their keys, and forms to add more."""
    return _page(request, principal, db)


@router.post("/partners", response_class=HTMLResponse)
def add_org(
    request: Request,
    principal: Manager,
    db: DbDep,
    name: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "",
    country: Annotated[str, Form()] = "",
) -> Response:
    """Add an organisation."""
    try:
        with db.begin() as s:
            service.create_org(s, name, kind, country or None, actor=principal.actor)
    except service.PartnerError as exc:
        return _page(request, principal, db, 400, [exc.message])
    return RedirectResponse("/console/partners?msg=added", status_code=303)


@router.post("/partners/{org_id}/keys", response_class=HTMLResponse)
def add_key(
    request: Request,
    principal: Manager,
    org_id: DbId,
    db: DbDep,
    scope: Annotated[list[str] | None, Form()] = None,
    ip_allow: Annotated[str, Form()] = "",
) -> Response:
    """Create a key and show it once."""
    try:
        with db.begin() as s:
            _key, token = service.create_key(
                s,
                service.get_org(s, org_id),
                scope or [],
                actor=principal.actor,
                ip_allow=ip_allow.split(),
            )
    except service.PartnerError as exc:
        return _page(request, principal, db, html_status(exc), [exc.message])
    return _page(request, principal, db, new_key=token)


@router.post("/partner-keys/{key_id}/revoke", response_class=HTMLResponse)
def revoke_key(request: Request, principal: Manager, key_id: DbId, db: DbDep) -> Response:
    """Revoke a key at once."""
    try:
        with db.begin() as s:
            service.revoke_key(s, key_id, actor=principal.actor)
    except service.PartnerError as exc:
        return _page(request, principal, db, html_status(exc), [exc.message])
    return RedirectResponse("/console/partners?msg=revoked", status_code=303)


@router.post("/partner-keys/{key_id}/rotate", response_class=HTMLResponse)
def rotate_key(request: Request, principal: Manager, key_id: DbId, db: DbDep) -> Response:
    """Replace a key; the new one is shown once."""
    try:
        with db.begin() as s:
            _key, token = service.rotate_key(s, key_id, actor=principal.actor)
    except service.PartnerError as exc:
        return _page(request, principal, db, html_status(exc), [exc.message])
    return _page(request, principal, db, new_key=token)

"""HTML routes of the helpline's referral directory and the CHI annual download (no JS).

Counsellors browse and filter the directory; helpline managers add, edit and retire
resources; trend viewers download the year in Child Helpline International's shape.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.console.pages import NO_STORE, render
from openhotline.db import clock_of
from openhotline.errors import ConflictError, InvalidError
from openhotline.helpline import chi, resources
from openhotline.helpline.resource_models import HelplineResource
from openhotline.helpline.taxonomy import Taxonomy
from openhotline.helpline.webdeps import TaxonomyDep
from openhotline.i18n import gettext as _
from openhotline.web.deps import DbDep, SettingsDep
from openhotline.web.params import DbId

router = APIRouter(prefix="/console/helpline", include_in_schema=False)

Counsellor = Annotated[Principal, Depends(require(Permission.HELPLINE_CONTACT_RECORD))]
Manager = Annotated[Principal, Depends(require(Permission.HELPLINE_RESOURCES_MANAGE))]
TrendViewer = Annotated[Principal, Depends(require(Permission.HELPLINE_TRENDS_VIEW))]
FIELDS = resources.CSV_COLUMNS


def _message(
    request: Request, principal: Principal, title: str, text: str, status: int
) -> Response:
    return render(request, "helpline/message.html", principal, status, title=title, text=text)


def _filter(region: str, category: str, age: str, retired: str) -> resources.ResourceFilter:
    age_text = age.strip()
    return resources.ResourceFilter(
        region=region or None,
        category=category or None,
        age=int(age_text) if age_text.isdigit() and int(age_text) <= resources.MAX_AGE else None,
        include_retired=bool(retired),
    )


@router.get("/resources", response_class=HTMLResponse)
def resource_list(
    request: Request,
    principal: Counsellor,
    db: DbDep,
    taxonomy: TaxonomyDep,
    region: Annotated[str, Query(max_length=60)] = "",
    category: Annotated[str, Query(max_length=60)] = "",
    age: Annotated[str, Query(max_length=3)] = "",
    retired: Annotated[str, Query(max_length=1)] = "",
) -> Response:
    """The directory, filtered by region, category and age (nationwide services match all)."""
    flt = _filter(region, category, age, retired)
    with db.begin() as session:
        found = resources.find_resources(session, flt)
        return render(
            request,
            "helpline/resources.html",
            principal,
            found=found,
            f=flt,
            tx=taxonomy,
        )


def _form(
    request: Request,
    principal: Principal,
    taxonomy: Taxonomy,
    values: dict[str, Any],
    resource_id: int | None = None,
    status: int = 200,
    errors: list[str] | None = None,
) -> Response:
    return render(
        request,
        "helpline/resource_form.html",
        principal,
        status,
        v=values,
        rid=resource_id,
        tx=taxonomy,
        errors=errors or [],
    )


def _values(form: Any) -> dict[str, str]:
    return {k: str(form.get(k) or "") for k in FIELDS}


@router.get("/resources/new", response_class=HTMLResponse)
def resource_new(request: Request, principal: Manager, taxonomy: TaxonomyDep) -> Response:
    """The form to add a resource."""
    return _form(request, principal, taxonomy, dict.fromkeys(FIELDS, ""))


@router.post("/resources", response_class=HTMLResponse)
async def resource_create(
    request: Request, principal: Manager, db: DbDep, taxonomy: TaxonomyDep
) -> Response:
    """Add a resource; show the form again with the problems listed."""
    values = _values(await request.form())
    data, problems = resources.resource_of_fields(values)
    if data is None:
        return _form(request, principal, taxonomy, values, None, 400, problems)
    try:
        with db.begin() as session:
            resources.add_resource(session, data, taxonomy=taxonomy, actor=principal.actor)
    except resources.ResourceRejectedError as exc:
        return _form(request, principal, taxonomy, values, None, 400, [exc.message, *exc.detail])
    return RedirectResponse("/console/helpline/resources?msg=resource_saved", status_code=303)


@router.get("/resources/{resource_id}/edit", response_class=HTMLResponse)
def resource_edit(
    request: Request, principal: Manager, db: DbDep, taxonomy: TaxonomyDep, resource_id: DbId
) -> Response:
    """The form to change a resource (its code stays)."""
    with db.begin() as session:
        r = session.get(HelplineResource, resource_id)
        if r is None:
            return _message(request, principal, _("Not found"), _("No such resource."), 404)
        values = {k: "" if getattr(r, k) is None else str(getattr(r, k)) for k in FIELDS}
    return _form(request, principal, taxonomy, values, resource_id)


@router.post("/resources/{resource_id}", response_class=HTMLResponse)
async def resource_update(
    request: Request, principal: Manager, db: DbDep, taxonomy: TaxonomyDep, resource_id: DbId
) -> Response:
    """Save a changed resource."""
    values = _values(await request.form())
    with db.begin() as session:
        r = session.get(HelplineResource, resource_id)
        if r is None:
            return _message(request, principal, _("Not found"), _("No such resource."), 404)
        values["code"] = r.code
        data, problems = resources.resource_of_fields(values)
        if data is None:
            return _form(request, principal, taxonomy, values, resource_id, 400, problems)
        try:
            resources.edit_resource(session, r, data, taxonomy=taxonomy, actor=principal.actor)
        except resources.ResourceRejectedError as exc:
            errs = [exc.message, *exc.detail]
            return _form(request, principal, taxonomy, values, resource_id, 400, errs)
    return RedirectResponse("/console/helpline/resources?msg=resource_saved", status_code=303)


def _retire(
    request: Request, principal: Principal, db: Any, resource_id: int, retire: bool
) -> Response:
    with db.begin() as session:
        r = session.get(HelplineResource, resource_id)
        if r is None:
            return _message(request, principal, _("Not found"), _("No such resource."), 404)
        try:
            resources.retire_resource(session, r, actor=principal.actor, retire=retire)
        except ConflictError as exc:
            return _message(request, principal, _("Not possible"), str(exc), 409)
    msg = "resource_retired" if retire else "resource_saved"
    return RedirectResponse(f"/console/helpline/resources?msg={msg}&retired=1", status_code=303)


@router.post("/resources/{resource_id}/retire", response_class=HTMLResponse)
def resource_retire(request: Request, principal: Manager, db: DbDep, resource_id: DbId) -> Response:
    """Retire a resource: no longer offered on the contact form; its counts stay."""
    return _retire(request, principal, db, resource_id, True)


@router.post("/resources/{resource_id}/restore", response_class=HTMLResponse)
def resource_restore(
    request: Request, principal: Manager, db: DbDep, resource_id: DbId
) -> Response:
    """Offer a retired resource again."""
    return _retire(request, principal, db, resource_id, False)


@router.get("/chi")
def chi_download(
    request: Request,
    principal: TrendViewer,
    db: DbDep,
    settings: SettingsDep,
    taxonomy: TaxonomyDep,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    format: Annotated[str, Query(max_length=4)] = "csv",
) -> Response:
    """The year in Child Helpline International's data framework, suppressed (audited)."""
    if format not in ("csv", "json"):
        return _message(request, principal, _("Not possible"), _("Format: csv or json."), 400)
    try:
        with db.begin() as session:
            year = year or clock_of(session).now().year - 1
            mapping = chi.load_mapping(taxonomy, settings.helpline_chi_mapping_path)
            k = settings.helpline_suppression_k
            export = chi.chi_export(session, year, taxonomy, k, mapping=mapping)
            audit.record(
                session,
                principal.actor,
                AuditAction.HELPLINE_CHI_EXPORTED,
                None,
                {"year": year, "format": format},
            )
    except InvalidError as exc:
        return _message(request, principal, _("Not possible"), exc.message, 400)
    if format == "json":
        body, media = json.dumps(export.as_dict(), indent=2), "application/json"
    else:
        body, media = export.as_csv(), "text/csv; charset=utf-8"
    name = f"helpline-chi-{year}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', **NO_STORE}
    return Response(body, media_type=media, headers=headers)

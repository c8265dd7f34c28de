"""HTML routes for supervisors: disputed items and every analyst's exposure today."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from openhotline.accounts import service as accounts
from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.assessment import exposure, service
from openhotline.assessment.schemes import SchemeError
from openhotline.console.pages import actor_of, load_policy, render
from openhotline.web.deps import DbDep, SettingsDep
from openhotline.web.params import DbId

router = APIRouter(prefix="/console/supervisor", include_in_schema=False)

Resolver = Annotated[Principal, Depends(require(Permission.DISPUTE_RESOLVE))]
ExposureViewer = Annotated[Principal, Depends(require(Permission.EXPOSURE_VIEW_ALL))]


@router.get("/disputes", response_class=HTMLResponse)
def disputes_page(
    request: Request, db: DbDep, settings: SettingsDep, principal: Resolver
) -> Response:
    """Items the analysts disagreed on."""
    with db() as session:
        items = service.disputes(session)
        names = accounts.usernames(session)
    return render(
        request,
        "console/disputes.html",
        principal,
        disputes=items,
        names=names,
        scheme=load_policy(db, settings).scheme,
    )


@router.get("/disputes/{item_id}", response_class=HTMLResponse)
def dispute_page(
    request: Request, item_id: DbId, db: DbDep, settings: SettingsDep, principal: Resolver
) -> Response:
    """One disputed item: the grades, the (blurred) preview and the decision form."""
    policy = load_policy(db, settings)
    with db() as session:
        found = next(
            (d for d in service.disputes(session, limit=1000) if d.item.id == item_id), None
        )
        names = accounts.usernames(session)
        revealed = exposure.open_reveal(session, principal.user_id, item_id)
        budget = exposure.budget_of(session, principal.user_id, policy)
    if found is None:
        return render(request, "console/error.html", principal, 404, error="Not a disputed item.")
    own = any(g.user_id == principal.user_id for g in found.grades)
    return render(
        request,
        "console/dispute.html",
        principal,
        dispute=found,
        names=names,
        own=own,
        revealed=revealed,
        budget=budget,
        scheme=policy.scheme,
    )


@router.post("/disputes/{item_id}/resolve", response_class=HTMLResponse)
async def resolve(
    request: Request, item_id: DbId, db: DbDep, settings: SettingsDep, principal: Resolver
) -> Response:
    """Decide a disputed item."""
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    code = values.pop("classification", "")
    policy = load_policy(db, settings)

    def _save() -> str:
        try:
            with db.begin() as session:
                exposure.hide(session, principal.user_id, principal.actor)
                service.resolve_dispute(session, item_id, actor_of(principal), code, values, policy)
            return ""
        except (service.AssessmentError, SchemeError) as exc:
            return str(exc)

    error = await run_in_threadpool(_save)
    if error:
        return render(
            request,
            "console/error.html",
            principal,
            400,
            error=error,
            back=f"/console/supervisor/disputes/{item_id}",
        )
    return RedirectResponse("/console/supervisor/disputes?msg=resolved", status_code=303)


@router.get("/exposure", response_class=HTMLResponse)
def exposure_page(
    request: Request, db: DbDep, settings: SettingsDep, principal: ExposureViewer
) -> Response:
    """Every analyst's exposure budget use today."""
    policy = load_policy(db, settings)
    with db() as session:
        rows = exposure.exposure_today(session, policy)
    return render(request, "console/exposure.html", principal, rows=rows)

"""HTML routes: the public appeal form (no JavaScript) and the supervisors' review page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.blocklist import service
from openhotline.console.pages import render
from openhotline.web.deps import DbDep
from openhotline.web.errors import html_status
from openhotline.web.ratelimit import public_rate_limit
from openhotline.web.templating import templates

router = APIRouter(include_in_schema=False)
Reviewer = Annotated[Principal, Depends(require(Permission.APPEALS_REVIEW))]


@router.get("/appeal", response_class=HTMLResponse)
def appeal_form(request: Request) -> HTMLResponse:
    """Show the form to contest a listed URL."""
    return templates.TemplateResponse(request, "appeal/form.html", {"errors": [], "values": {}})


@router.post("/appeal", response_class=HTMLResponse, dependencies=[Depends(public_rate_limit)])
def appeal_submit(
    request: Request,
    db: DbDep,
    url: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    contact_email: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Record an appeal, or show the form again with the problem."""
    values = {"url": url, "reason": reason, "contact_email": contact_email}
    try:
        with db.begin() as s:
            appeal = service.file_appeal(s, url, reason, contact_email.strip() or None)
            reference = appeal.reference
    except service.BlocklistError as exc:
        return templates.TemplateResponse(
            request,
            "appeal/form.html",
            {"errors": [exc.message], "values": values},
            status_code=html_status(exc),
        )
    return templates.TemplateResponse(
        request, "appeal/thanks.html", {"reference": reference, "contact": bool(contact_email)}
    )


@router.get("/console/appeals", response_class=HTMLResponse)
def appeals_page(request: Request, principal: Reviewer, db: DbDep) -> Response:
    """Appeals waiting for a supervisor."""
    with db.begin() as s:
        appeals = service.pending_appeals(s)
        s.expunge_all()
    return render(request, "console/appeals.html", principal, appeals=appeals)


@router.post("/console/appeals/{appeal_id}/decide")
def decide(
    request: Request,
    principal: Reviewer,
    appeal_id: int,
    db: DbDep,
    decision: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """Uphold (the URL leaves the next list version) or reject an appeal; audited."""
    if decision not in ("uphold", "reject"):
        return render(
            request,
            "console/appeals.html",
            principal,
            400,
            appeals=[],
            flash="choose uphold or reject",
        )
    with db.begin() as s:
        service.decide_appeal(s, appeal_id, decision == "uphold", note, actor=principal.actor)
    return RedirectResponse("/console/appeals?msg=decided", status_code=303)

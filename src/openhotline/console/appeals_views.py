"""Console pages: supervisors review appeals against the URL list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.blocklist import service
from openhotline.console.pages import render
from openhotline.web.deps import DbDep
from openhotline.web.params import DbId

router = APIRouter(include_in_schema=False)
Reviewer = Annotated[Principal, Depends(require(Permission.APPEALS_REVIEW))]


@router.get("/console/appeals", response_class=HTMLResponse)
def appeals_page(request: Request, principal: Reviewer, db: DbDep) -> Response:
    """Appeals waiting for a supervisor."""
    with db.begin() as s:
        appeals = service.pending_appeals(s)
        decided = service.recent_decisions(s)
        s.expunge_all()
    return render(request, "console/appeals.html", principal, appeals=appeals, decided=decided)


@router.post("/console/appeals/{appeal_id}/decide")
def decide(
    request: Request,
    principal: Reviewer,
    appeal_id: DbId,
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
            decided=[],
            flash="choose uphold or reject",
        )
    with db.begin() as s:
        service.decide_appeal(s, appeal_id, decision == "uphold", note, actor=principal.actor)
    return RedirectResponse("/console/appeals?msg=appeal_decided", status_code=303)

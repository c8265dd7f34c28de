"""Console page: supervisors put cases and items under legal hold (no purge) or lift it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.console.pages import render
from openhotline.errors import DomainError
from openhotline.retention import service
from openhotline.web.deps import DbDep

router = APIRouter(include_in_schema=False)
Holder = Annotated[Principal, Depends(require(Permission.LEGAL_HOLD))]


def _page(
    request: Request, principal: Principal, db: DbDep, status: int = 200, **extra: object
) -> Response:
    with db.begin() as s:
        cases, items = service.held(s)
        rows = {
            "cases": [(c.id, c.host) for c in cases],
            "items": [(i.id, i.sha256[:16]) for i in items],
        }
    return render(request, "console/legal_holds.html", principal, status, **rows, **extra)


@router.get("/console/legal-holds", response_class=HTMLResponse)
def holds_page(request: Request, principal: Holder, db: DbDep) -> Response:
    """What is under legal hold, and the form to set or lift a hold."""
    return _page(request, principal, db)


@router.post("/console/legal-holds", response_class=HTMLResponse)
def set_hold(
    request: Request,
    principal: Holder,
    db: DbDep,
    kind: Annotated[str, Form()] = "",
    target: Annotated[str, Form(max_length=12)] = "",
    action: Annotated[str, Form()] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Set or lift a hold on a case or an item by id; the reason goes to the audit log."""
    problem = ""
    if kind not in ("case", "item") or action not in ("set", "lift"):
        problem = "choose case or item, and set or lift"
    elif not target.isdigit() or not 0 < int(target) < 2**31:
        problem = "give the case or item number"
    elif not reason.strip():
        problem = "give the reason (it is recorded in the audit log)"
    if problem:
        return _page(request, principal, db, 400, flash=problem)
    hold = service.set_legal_hold if kind == "case" else service.set_item_hold
    try:
        with db.begin() as s:
            hold(s, int(target), action == "set", actor=principal.actor, reason=reason.strip())
    except DomainError as exc:
        return _page(request, principal, db, 404, flash=exc.message)
    return RedirectResponse("/console/legal-holds", status_code=303)

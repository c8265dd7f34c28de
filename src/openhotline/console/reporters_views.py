"""Console page: a supervisor erases a reporter's e-mail address on request, by the address."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.console.pages import render
from openhotline.errors import InvalidError
from openhotline.reporting.feedback import erase_reporter_contact
from openhotline.web.deps import DbDep

router = APIRouter(include_in_schema=False)
Eraser = Annotated[Principal, Depends(require(Permission.REPORTERS_ERASE))]


@router.get("/console/reporters/erase", response_class=HTMLResponse)
def erase_form(request: Request, principal: Eraser) -> Response:
    """The form: the address the reporter asked us to erase."""
    return render(request, "console/reporter_erase.html", principal, erased=None)


@router.post("/console/reporters/erase", response_class=HTMLResponse)
def erase(
    request: Request, principal: Eraser, db: DbDep, email: Annotated[str, Form()] = ""
) -> Response:
    """Erase the address from every report holding it (audited by digest, not the address)."""
    try:
        with db.begin() as s:
            count = erase_reporter_contact(s, email, actor=principal.actor)
    except InvalidError as exc:
        return render(
            request, "console/reporter_erase.html", principal, 400, erased=None, flash=exc.message
        )
    return render(request, "console/reporter_erase.html", principal, erased=count)

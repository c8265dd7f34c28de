"""HTML routes: the police queue with SLA clocks; police officers acknowledge, clear, hold."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.console.pages import render
from openhotline.errors import HTTP_STATUS, DomainError
from openhotline.police import service
from openhotline.web.deps import DbDep
from openhotline.web.params import DbId

router = APIRouter(prefix="/console", include_in_schema=False)

Viewer = Annotated[Principal, Depends(require(Permission.POLICE_QUEUE_VIEW))]
Officer = Annotated[Principal, Depends(require(Permission.POLICE_DECIDE))]


def _page(
    request: Request,
    db: DbDep,
    principal: Principal,
    status: int = 200,
    error: str = "",
    show: str = "open",
) -> Response:
    with db() as session:
        entries = service.queue(session, open_only=show != "all")
        channels = service.channels(session)
        return render(
            request,
            "console/police.html",
            principal,
            status,
            entries=entries,
            channels=channels,
            show=show,
            can_decide=principal.can(Permission.POLICE_DECIDE),
            can_open_case=principal.can(Permission.CASE_VIEW),
            error=error,
        )


@router.get("/police", response_class=HTMLResponse)
def police_page(request: Request, db: DbDep, principal: Viewer, show: str = "open") -> Response:
    """Police referrals oldest first, with acknowledgement and decision clocks."""
    return _page(request, db, principal, show="all" if show == "all" else "open")


def _act(
    request: Request, db: DbDep, principal: Principal, referral_id: int, action: str, why: str
) -> Response:
    try:
        with db.begin() as session:
            referral = service.referral_for(session, referral_id).referral
            if action == "acknowledge":
                service.acknowledge(session, referral, principal.actor)
            elif action == "clear":
                service.clear(session, referral, principal.actor)
            else:
                service.hold(session, referral, why, principal.actor)
    except DomainError as exc:
        return _page(request, db, principal, HTTP_STATUS[exc.kind], error=exc.message)
    msg = {"acknowledge": "police_acknowledged", "clear": "police_referral_cleared"}
    return RedirectResponse(
        f"/console/police?msg={msg.get(action, 'police_referral_held')}", status_code=303
    )


@router.post("/police/{referral_id}/acknowledge", response_class=HTMLResponse)
def acknowledge(request: Request, referral_id: DbId, db: DbDep, principal: Officer) -> Response:
    """Stop the acknowledgement clock of a referral (audited)."""
    return _act(request, db, principal, referral_id, "acknowledge", "")


@router.post("/police/{referral_id}/clear", response_class=HTMLResponse)
def clear(request: Request, referral_id: DbId, db: DbDep, principal: Officer) -> Response:
    """Clear: held notices go to the host on the next run (audited)."""
    return _act(request, db, principal, referral_id, "clear", "")


@router.post("/police/{referral_id}/hold", response_class=HTMLResponse)
def hold(
    request: Request,
    referral_id: DbId,
    db: DbDep,
    principal: Officer,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Hold: notices wait and the case goes under legal hold (audited, reason required)."""
    return _act(request, db, principal, referral_id, "hold", reason)

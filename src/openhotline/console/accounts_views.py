"""HTML routes of accounts: log in (password + TOTP), log out, one's own account page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openhotline.accounts import service
from openhotline.accounts.deps import (
    COOKIE_NAME,
    Principal,
    clear_session_cookie,
    csrf_matches,
    policy_of,
    require,
    set_session_cookie,
)
from openhotline.accounts.permissions import Permission
from openhotline.assessment.exposure import budget_of
from openhotline.assessment.policy import policy_in_force
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.console.pages import render
from openhotline.web.deps import DbDep, SettingsDep
from openhotline.web.ratelimit import public_rate_limit

router = APIRouter(prefix="/console", include_in_schema=False)
LOGIN_FAILED = "Wrong username, password or code, or the account is locked."

SessionUser = Annotated[Principal, Depends(require(Permission.SESSION))]


@router.get("/login", response_class=HTMLResponse, dependencies=[Depends(public_rate_limit)])
def login_form(request: Request, db: DbDep, settings: SettingsDep) -> Response:
    """Show the login form inside a fresh anonymous session (for its CSRF token)."""
    token = request.cookies.get(COOKIE_NAME, "")
    with db.begin() as session:
        info = service.load_session(session, token, policy_of(settings)) if token else None
        if info is not None and info.user is not None:
            return RedirectResponse("/console/", status_code=303)
        if info is None:
            info = service.start_session(session, None, policy_of(settings))
    response = render(request, "console/login.html", None, csrf_token=info.csrf_token, username="")
    set_session_cookie(response, info.token, settings)
    return response


@router.post("/login", response_class=HTMLResponse, dependencies=[Depends(public_rate_limit)])
def login_submit(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    code: Annotated[str, Form(max_length=64)] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Check the credentials; on success rotate the session id and go to the console."""
    policy = policy_of(settings)
    old_token = request.cookies.get(COOKIE_NAME, "")
    with db.begin() as session:
        info = service.load_session(session, old_token, policy) if old_token else None
        if info is None or not csrf_matches(info.csrf_token, csrf_token):
            return render(
                request,
                "console/login.html",
                None,
                status=403,
                csrf_token="",
                username="",
                error="This form expired or was not sent from this site. Reload the page.",
            )
        result = service.authenticate(session, username, password, code, policy)
        if result.user is not None:
            new = service.login_session(session, old_token, result.user, policy)
    if result.user is None:
        return render(
            request,
            "console/login.html",
            None,
            status=401,
            csrf_token=info.csrf_token,
            username=username,
            error=LOGIN_FAILED,
        )
    response = RedirectResponse("/console/", status_code=303)
    set_session_cookie(response, new.token, settings)
    return response


@router.post("/logout")
def logout(db: DbDep, settings: SettingsDep, principal: SessionUser) -> Response:
    """End the session."""
    with db.begin() as session:
        service.end_session(session, principal.token)
        audit.record(session, principal.actor, AuditAction.LOGOUT, f"user:{principal.username}", {})
    response = RedirectResponse("/console/login", status_code=303)
    clear_session_cookie(response, settings)
    return response


@router.get("/account", response_class=HTMLResponse)
def account_page(
    request: Request, db: DbDep, settings: SettingsDep, principal: SessionUser
) -> Response:
    """Show one's own account: role, recovery codes left, exposure today."""
    exposure = None
    with db() as session:
        left = service.unused_recovery_codes(session, principal.user_id)
        if principal.can(Permission.ITEM_REVEAL):
            exposure = budget_of(session, principal.user_id, policy_in_force(settings, session))
    return render(
        request,
        "console/account.html",
        principal,
        codes_left=left,
        new_codes=[],
        exposure=exposure,
    )


@router.post("/account/recovery-codes", response_class=HTMLResponse)
def account_new_codes(request: Request, db: DbDep, principal: SessionUser) -> Response:
    """Replace one's recovery codes and show the new ones once."""
    with db.begin() as session:
        user = service.get_user(session, principal.user_id)
        codes = service.regenerate_recovery_codes(session, user)
    return render(
        request, "console/account.html", principal, codes_left=len(codes), new_codes=codes
    )

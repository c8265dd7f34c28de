"""HTML routes for administrators: users (create, role, unlock, deactivate) and the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openhotline.accounts import credentials
from openhotline.accounts import service as accounts
from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission, roles_least_privileged_first
from openhotline.assessment import settings_service
from openhotline.audit import service as audit
from openhotline.console.pages import load_policy, render
from openhotline.web.deps import DbDep, SettingsDep
from openhotline.web.params import DbId

router = APIRouter(prefix="/console", include_in_schema=False)

Admin = Annotated[Principal, Depends(require(Permission.USERS_MANAGE))]
AuditReader = Annotated[Principal, Depends(require(Permission.AUDIT_VIEW))]


def _shown(created: accounts.NewUser) -> dict[str, object]:
    """The secrets shown once: TOTP secret, its QR code, recovery codes."""
    return {
        "username": created.user.username,
        "secret": created.totp_secret,
        "uri": created.provisioning_uri,
        "qr": credentials.enrolment_qr(created.provisioning_uri),
        "codes": created.recovery_codes,
    }


def _users_page(
    request: Request, db: DbDep, principal: Principal, status: int = 200, **extra: object
) -> Response:
    with db() as session:
        users = accounts.list_users(session)
    return render(
        request,
        "console/users.html",
        principal,
        status,
        users=users,
        roles=roles_least_privileged_first(),
        **extra,
    )


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, db: DbDep, principal: Admin) -> Response:
    """All staff accounts."""
    return _users_page(request, db, principal, created=None)


@router.post("/admin/users", response_class=HTMLResponse)
def create_user(
    request: Request,
    db: DbDep,
    principal: Admin,
    username: Annotated[str, Form(max_length=64)] = "",
    role: Annotated[str, Form(max_length=40)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Create a user; show their TOTP secret and recovery codes once."""
    try:
        with db.begin() as session:
            created = accounts.create_user(session, username, password, role, actor=principal.actor)
            shown = _shown(created)
    except accounts.AccountError as exc:
        return _users_page(request, db, principal, 400, created=None, error=str(exc))
    return _users_page(request, db, principal, created=shown)


@router.post("/admin/users/{user_id}/password", response_class=HTMLResponse)
def reset_password(
    request: Request,
    user_id: DbId,
    db: DbDep,
    principal: Admin,
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Set a new password for a user (their sessions end; audited)."""
    try:
        with db.begin() as session:
            user = accounts.get_user(session, user_id)
            accounts.reset_password(session, user, password, actor=principal.actor)
    except accounts.AccountError as exc:
        return _users_page(request, db, principal, 400, created=None, error=str(exc))
    return RedirectResponse("/console/admin/users?msg=password_reset", status_code=303)


@router.post("/admin/users/{user_id}/totp", response_class=HTMLResponse)
def reset_totp(request: Request, user_id: DbId, db: DbDep, principal: Admin) -> Response:
    """Enrol a new authenticator for a user; show the secret, QR code and codes once."""
    with db.begin() as session:
        user = accounts.get_user(session, user_id)
        shown = _shown(accounts.reset_totp(session, user, actor=principal.actor))
    return _users_page(request, db, principal, created=shown, reset=True)


@router.post("/admin/users/{user_id}/role")
def change_role(
    user_id: DbId,
    db: DbDep,
    principal: Admin,
    role: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Change a user's role (ends their sessions)."""
    try:
        with db.begin() as session:
            accounts.set_role(
                session, accounts.get_user(session, user_id), role, actor=principal.actor
            )
    except accounts.AccountError:
        return RedirectResponse("/console/admin/users", status_code=303)
    return RedirectResponse("/console/admin/users?msg=user_updated", status_code=303)


@router.post("/admin/users/{user_id}/unlock")
def unlock_user(user_id: DbId, db: DbDep, principal: Admin) -> Response:
    """Clear a user's lockout."""
    try:
        with db.begin() as session:
            accounts.unlock(session, accounts.get_user(session, user_id), actor=principal.actor)
    except accounts.AccountError:
        return RedirectResponse("/console/admin/users", status_code=303)
    return RedirectResponse("/console/admin/users?msg=user_updated", status_code=303)


@router.post("/admin/users/{user_id}/active")
def set_active(
    user_id: DbId,
    db: DbDep,
    principal: Admin,
    active: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Activate or deactivate a user (never oneself)."""
    if user_id == principal.user_id:
        return RedirectResponse("/console/admin/users", status_code=303)
    try:
        with db.begin() as session:
            user = accounts.get_user(session, user_id)
            accounts.set_active(session, user, active == "1", actor=principal.actor)
    except accounts.AccountError:
        return RedirectResponse("/console/admin/users", status_code=303)
    return RedirectResponse("/console/admin/users?msg=user_updated", status_code=303)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    db: DbDep,
    principal: AuditReader,
    actor: str = "",
    action: str = "",
    before: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    verify: str = "",
) -> Response:
    """The newest audit entries, filterable by actor and action; chain status on top."""
    with db() as session:
        entries = audit.recent(
            session,
            limit=100,
            before_id=before,
            actor=actor.strip()[:200] or None,
            action_prefix=action.strip()[:80] or None,
        )
        verified = audit.verify(session) if verify else None
    return render(
        request,
        "console/audit.html",
        principal,
        entries=entries,
        verified=verified,
        actor=actor,
        action=action,
    )


SettingsAdmin = Annotated[Principal, Depends(require(Permission.SETTINGS_MANAGE))]


def _settings_page(
    request: Request, db: DbDep, settings: SettingsDep, principal: Principal, **extra: object
) -> Response:
    policy = load_policy(db, settings)
    current = {
        "exposure_budget_minutes": policy.exposure_budget_seconds // 60,
        "reveal_window_seconds": policy.reveal_window_seconds,
        "confirmations_required": policy.confirmations_required,
        "claim_minutes": policy.claim_minutes,
    }
    status = 400 if extra.get("error") else 200
    return render(
        request,
        "console/settings.html",
        principal,
        status,
        tunables=list(settings_service.TUNABLES.values()),
        current=current,
        scheme=policy.scheme,
        **extra,
    )


@router.get("/admin/settings", response_class=HTMLResponse)
def settings_page(
    request: Request, db: DbDep, settings: SettingsDep, principal: SettingsAdmin
) -> Response:
    """Runtime assessment settings (exposure budget, reveal window, four eyes, claims)."""
    return _settings_page(request, db, settings, principal)


@router.post("/admin/settings/{key}", response_class=HTMLResponse)
def change_setting(
    request: Request,
    key: str,
    db: DbDep,
    settings: SettingsDep,
    principal: SettingsAdmin,
    value: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Change one setting (audited as setting.change)."""
    defaults = {
        "exposure_budget_minutes": settings.exposure_budget_minutes,
        "reveal_window_seconds": settings.reveal_window_seconds,
        "confirmations_required": settings.confirmations_required,
        "claim_minutes": settings.claim_minutes,
    }
    try:
        with db.begin() as session:
            settings_service.set_value(
                session, key, value, actor=principal.actor, default=defaults.get(key, 0)
            )
    except settings_service.SettingError as exc:
        return _settings_page(request, db, settings, principal, error=str(exc))
    return RedirectResponse("/console/admin/settings?msg=setting_saved", status_code=303)

"""Web dependencies of accounts: the console session, `require(permission)`, CSRF.

Every route that is not in permissions.PUBLIC_ROUTES declares what it needs:

    @router.post("/x")
    def x(principal: Annotated[Principal, Depends(require(Permission.ITEM_ASSESS))]): ...

State-changing requests (anything but GET/HEAD/OPTIONS) must also carry the session's CSRF
token, in the form field `csrf_token` or the `X-CSRF-Token` header; otherwise 403.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from openhotline.accounts import service
from openhotline.accounts.permissions import Permission, has_permission
from openhotline.config import Settings
from openhotline.errors import ForbiddenError, UnauthenticatedError
from openhotline.web.deps import services_of
from openhotline.web.errors import domain_error_response

COOKIE_NAME = "oh_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequiredError(UnauthenticatedError):
    """No valid console session."""

    def __init__(self, message: str = "log in first; your session has ended") -> None:
        super().__init__(message)


class PermissionDeniedError(ForbiddenError):
    """The session's role lacks the permission, or the CSRF token is missing or wrong."""


@dataclass(frozen=True)
class Principal:
    """The logged-in staff member making this request."""

    user_id: int
    username: str
    role: str
    csrf_token: str
    token: str

    @property
    def actor(self) -> str:
        """The name under which this user appears in the audit log."""
        return f"user:{self.username}"

    def can(self, permission: Permission) -> bool:
        """True when this user's role grants the permission."""
        return has_permission(self.role, permission)


def policy_of(settings: Settings) -> service.AuthPolicy:
    """Return the account policy configured in settings."""
    return service.AuthPolicy(
        max_failures=settings.login_max_failures,
        lockout_minutes=settings.login_lockout_minutes,
        idle_minutes=settings.session_idle_minutes,
        max_hours=settings.session_max_hours,
    )


def _load_principal(request: Request) -> Principal | None:
    token = request.cookies.get(COOKIE_NAME, "")
    if not token:
        return None
    factory = services_of(request).sessionmaker
    settings = services_of(request).settings
    with factory.begin() as session:
        info = service.load_session(session, token, policy_of(settings))
        if info is None or info.user is None:
            return None
        user = info.user
        return Principal(user.id, user.username, user.role, info.csrf_token, token)


async def csrf_token_of(request: Request) -> str:
    """Return the CSRF token a request carries (header or form field), or ''."""
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        return value if isinstance(value, str) else ""
    return ""


def csrf_matches(expected: str, given: str) -> bool:
    """Compare CSRF tokens in constant time."""
    return bool(given) and hmac.compare_digest(expected.encode(), given.encode())


class Require:
    """Dependency: a logged-in user whose role has `permission` (plus CSRF on writes)."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    async def __call__(self, request: Request) -> Principal:
        """Authenticate, authorise, then check CSRF for state-changing methods."""
        cached: Principal | None = getattr(request.state, "principal", None)
        principal = cached or await run_in_threadpool(_load_principal, request)
        if principal is None:
            raise LoginRequiredError
        request.state.principal = principal
        if not principal.can(self.permission):
            raise PermissionDeniedError(f"your role may not do this ({self.permission.value})")
        if request.method not in SAFE_METHODS and not csrf_matches(
            principal.csrf_token, await csrf_token_of(request)
        ):
            raise PermissionDeniedError("missing or invalid CSRF token; reload the page")
        return principal

    def __repr__(self) -> str:
        return f"require({self.permission.value})"


def require(permission: Permission) -> Require:
    """Return the dependency that requires `permission` (see the module docstring)."""
    return Require(permission)


def set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    """Set the console session cookie: HttpOnly, SameSite=Strict, Secure unless disabled."""
    response.set_cookie(
        COOKIE_NAME,
        token,
        httponly=True,
        samesite="strict",
        secure=settings.session_cookie_secure,
        path="/",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    """Remove the console session cookie."""
    response.delete_cookie(
        COOKIE_NAME,
        path="/",
        httponly=True,
        samesite="strict",
        secure=settings.session_cookie_secure,
    )


def install_auth_handlers(app: FastAPI) -> None:
    """Send a browser without a session to the login page (a UI step, not an error mapping).

    Everything else (401 on writes and the API, 403 for PermissionDeniedError) is the
    error family's one mapping in web/errors.py.
    """

    @app.exception_handler(LoginRequiredError)
    async def _login_required(request: Request, exc: LoginRequiredError) -> Response:
        if request.method in SAFE_METHODS and not request.url.path.startswith("/api/"):
            return RedirectResponse("/console/login", status_code=303)
        return domain_error_response(request, exc)

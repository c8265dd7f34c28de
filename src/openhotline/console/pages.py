"""Rendering helpers shared by the console's HTML routes."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from openhotline.accounts.deps import Principal
from openhotline.accounts.permissions import Permission
from openhotline.web.templating import templates

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def render(
    request: Request,
    name: str,
    principal: Principal | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a console template with the user, their CSRF token and permissions."""
    return templates.TemplateResponse(
        request,
        name,
        {
            "principal": principal,
            "csrf_token": principal.csrf_token if principal else context.pop("csrf_token", ""),
            "P": Permission,
            "flash": request.query_params.get("msg", "")[:200],
            **context,
        },
        status_code=status,
        headers=NO_STORE,
    )

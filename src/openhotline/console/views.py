"""HTML routes of the console's home page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.console.pages import render

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(
    request: Request, principal: Annotated[Principal, Depends(require(Permission.CONSOLE_VIEW))]
) -> Response:
    """The console's landing page: links to what this role may do."""
    return render(request, "console/home.html", principal)

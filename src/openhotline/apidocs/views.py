"""GET /api/docs: Swagger UI over the OpenAPI document, with assets served by this app."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from openhotline.web.templating import templates

router = APIRouter(include_in_schema=False)


@router.get("/api/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    """The interactive API documentation (works under the app's Content-Security-Policy)."""
    return templates.TemplateResponse(
        request, "apidocs.html", {"openapi_url": request.app.openapi_url}
    )

"""One error shape for every 4xx: {"error": "...", "detail": [...]}; console pages get HTML.

Every DomainError is mapped here once, by its kind: JSON for the API, a small rendered page
for console and browser requests. Routes raise kinds (or let the service's error pass);
they hold no mapping of their own.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from openhotline import i18n
from openhotline.db import OUTAGE_ERRORS
from openhotline.errors import HTTP_STATUS, DomainError, ErrorKind, InvalidError, RejectedError
from openhotline.web.templating import templates

ModelT = TypeVar("ModelT", bound=BaseModel)

# The heading of the HTML error page for each kind (the message says the rest).
# Marked here, translated when a page is rendered (in the request's language).
N_ = i18n.N_
HTML_TITLE: dict[ErrorKind, str] = {
    ErrorKind.NOT_FOUND: N_("Not found"),
    ErrorKind.CONFLICT: N_("Not possible now"),
    ErrorKind.REJECTED: N_("That did not work"),
    ErrorKind.INVALID: N_("That did not work"),
    ErrorKind.FORBIDDEN: N_("Not allowed"),
    ErrorKind.UNAUTHENTICATED: N_("Log in first"),
    ErrorKind.UNAVAILABLE: N_("Please try again later"),
}


# How long a client should wait after a 503 before trying again (an outage usually ends in
# seconds: a restart, a fail-over, space freed).
OUTAGE_RETRY_AFTER = 5
OUTAGE_MESSAGE = N_("the service is temporarily unavailable; please try again in a few seconds")


class ApiError(Exception):
    """An HTTP-level refusal no domain kind covers (413, 415, 429): web layer only.

    Everything a service or a route refuses on purpose is a DomainError kind instead.
    """

    def __init__(
        self,
        status: int,
        message: str,
        detail: list[str] | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        # A client told to come back later is told when (RFC 9110 Retry-After), always.
        if status in (429, 503) and retry_after is None:
            raise ValueError(f"an HTTP {status} answer needs retry_after")
        self.status = status
        self.message = message
        self.detail = detail or []
        self.retry_after = retry_after

    def headers(self) -> dict[str, str] | None:
        """Response headers this refusal carries (Retry-After when set)."""
        if self.retry_after is None:
            return None
        return {"Retry-After": str(max(1, self.retry_after))}


def validation_details(exc: ValidationError | RequestValidationError) -> list[str]:
    """Turn pydantic errors into short 'field: problem' lines."""
    out = []
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ()) if x not in ("body",)]
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            msg = "unknown field"
        out.append(f"{'.'.join(loc)}: {msg}" if loc else msg)
    return out


def validate_as(model: type[ModelT], data: object, what: str) -> ModelT:
    """Validate data as model; field problems become InvalidError(what, ['field: problem'])."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidError(what, validation_details(exc)) from exc


def html_status(exc: DomainError) -> int:
    """The status of an HTML answer: 400 for any bad input, else the kind's own status.

    The 400/422 split (malformed versus well-formed but invalid) is for API clients; pages,
    and pages that show a form again with its error, have always answered 400.
    """
    return 400 if isinstance(exc, RejectedError) else HTTP_STATUS[exc.kind]


def wants_html(request: Request) -> bool:
    """True for console pages and browsers that prefer HTML; the API always gets JSON."""
    path = request.url.path
    if path.startswith("/api/"):
        return False
    if path.startswith("/console"):
        return True
    accept = request.headers.get("accept", "").lower()
    html, json_ = accept.find("text/html"), accept.find("application/json")
    return html >= 0 and (json_ < 0 or html < json_)


def domain_error_response(request: Request, exc: DomainError) -> Response:
    """The one answer for a DomainError: its kind's status, as HTML or as JSON."""
    # Told to come back later, a client is told when.
    headers = (
        {"Retry-After": str(OUTAGE_RETRY_AFTER)} if exc.kind is ErrorKind.UNAVAILABLE else None
    )
    if wants_html(request):
        console = request.url.path.startswith("/console")
        return templates.TemplateResponse(
            request,
            "error.html",
            {
                "title": i18n.gettext(HTML_TITLE[exc.kind]),
                "message": exc.message,
                "detail": exc.detail,
                "console": console,
                "back": "/console/" if console else "/",
            },
            status_code=html_status(exc),
            headers=headers,
        )
    return JSONResponse(
        {"error": exc.message, "detail": exc.detail},
        status_code=HTTP_STATUS[exc.kind],
        headers=headers,
    )


def outage_response(request: Request) -> Response:
    """503 with Retry-After: the JSON error for the API, a page for console and browsers."""
    headers = {"Retry-After": str(OUTAGE_RETRY_AFTER)}
    if wants_html(request):
        console = request.url.path.startswith("/console")
        return templates.TemplateResponse(
            request,
            "error.html",
            {
                "title": i18n.gettext(HTML_TITLE[ErrorKind.UNAVAILABLE]),
                "message": i18n.gettext(OUTAGE_MESSAGE),
                "detail": [],
                "console": console,
                "back": "/console/" if console else "/",
            },
            status_code=503,
            headers=headers,
        )
    return JSONResponse({"error": OUTAGE_MESSAGE, "detail": []}, status_code=503, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register handlers so no error ever reaches a client as a traceback."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            {"error": exc.message, "detail": exc.detail},
            status_code=exc.status,
            headers=exc.headers(),
        )

    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, exc: DomainError) -> Response:
        # The one mapping of the error family, for JSON and for HTML alike.
        return domain_error_response(request, exc)

    async def _outage(request: Request, _exc: Exception) -> Response:
        # Logged once per outage by db.OutageMonitor, not once per request.
        return outage_response(request)

    for error in OUTAGE_ERRORS:
        app.add_exception_handler(error, _outage)

    @app.exception_handler(ValidationError)
    async def _validation(_request: Request, exc: ValidationError) -> JSONResponse:
        return JSONResponse(
            {"error": "invalid request", "detail": validation_details(exc)}, status_code=422
        )

    @app.exception_handler(RequestValidationError)
    async def _req_validation(request: Request, exc: RequestValidationError) -> Response:
        return _answer(request, 422, "invalid request", validation_details(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = HTTP_MESSAGES.get(exc.status_code, str(exc.detail))
        headers = getattr(exc, "headers", None)
        return _answer(request, exc.status_code, message, [], headers, str(exc.detail))


# Plain wording for the routing errors a person can meet in a browser.
HTTP_MESSAGES = {
    404: N_("There is no such page."),
    405: N_("This page does not accept that kind of request."),
}


def _answer(
    request: Request,
    status: int,
    message: str,
    detail: list[str],
    headers: dict[str, str] | None = None,
    json_message: str | None = None,
) -> Response:
    """An error page for console pages and browsers; the JSON error shape for the API."""
    if wants_html(request):
        console = request.url.path.startswith("/console")
        return templates.TemplateResponse(
            request,
            "error.html",
            {
                "title": i18n.gettext(
                    HTML_TITLE[ErrorKind.NOT_FOUND if status == 404 else ErrorKind.REJECTED]
                ),
                "message": i18n.gettext(message),
                "detail": detail,
                "console": console,
                "back": "/console/" if console else "/",
            },
            status_code=status,
            headers=headers,
        )
    return JSONResponse(
        {"error": json_message or message, "detail": detail}, status_code=status, headers=headers
    )


class ErrorBody(BaseModel):
    """The shape of every error answer (4xx and 503)."""

    error: str
    detail: list[str] = Field(default_factory=list)


# What any operation may answer besides its own successes: bad or over-limit bodies (400, 413,
# 415, JSON limits before any route), authentication and permission, unknown ids, conflicts,
# validation (422, in our shape, not FastAPI's default), rate limits, and an unavailable
# database (503). Documented once for every operation, so the document matches the answers.
COMMON_ERRORS = (400, 401, 403, 404, 409, 413, 415, 422, 429, 503)
RETRY_AFTER_DOC = {
    "description": "Seconds to wait before trying again.",
    "schema": {"type": "integer", "minimum": 1},
}


def install_openapi(app: FastAPI) -> None:
    """Generate the app's OpenAPI document with the one error shape on every operation."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        schemas["ErrorBody"] = ErrorBody.model_json_schema()
        ref = {"$ref": "#/components/schemas/ErrorBody"}
        for path_item in doc.get("paths", {}).values():
            for operation in path_item.values():
                responses = operation.setdefault("responses", {})
                for code in COMMON_ERRORS:
                    answer = responses.setdefault(
                        str(code), {"description": HTTPStatus(code).phrase}
                    )
                    answer["content"] = {"application/json": {"schema": ref}}
                    if code in (429, 503):
                        answer["headers"] = {"Retry-After": RETRY_AFTER_DOC}
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]

"""One error shape for every 4xx: {"error": "...", "detail": [...]}."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from openhotline.errors import HTTP_STATUS, DomainError


class ApiError(Exception):
    """An error that becomes a JSON 4xx answer with a message for the client."""

    def __init__(self, status: int, message: str, detail: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail or []


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


def install_error_handlers(app: FastAPI) -> None:
    """Register handlers so no error ever reaches a client as a traceback."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message, "detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(DomainError)
    async def _domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        # The one JSON mapping of the error family; console pages map it again as HTML.
        return JSONResponse(
            {"error": exc.message, "detail": exc.detail}, status_code=HTTP_STATUS[exc.kind]
        )

    @app.exception_handler(ValidationError)
    async def _validation(_request: Request, exc: ValidationError) -> JSONResponse:
        return JSONResponse(
            {"error": "invalid request", "detail": validation_details(exc)}, status_code=422
        )

    @app.exception_handler(RequestValidationError)
    async def _req_validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"error": "invalid request", "detail": validation_details(exc)}, status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": str(exc.detail), "detail": []},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

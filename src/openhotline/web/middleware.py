"""ASGI middleware: body size limits, security headers, language, logging without client data."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openhotline import i18n

log = logging.getLogger("openhotline.http")


class BodyTooLargeError(Exception):
    """Raised inside receive() when a streamed body passes its limit."""


class BodyLimitMiddleware:
    """Refuse bodies over a per-path limit with 413, by header or while streaming."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap receive() to count bytes."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _send_error(send, 400, "invalid Content-Length")
                    return
                if declared > limit:
                    await _send_error(send, 413, f"body larger than {limit} bytes")
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLargeError:
            if not started:
                await _send_error(send, 413, f"body larger than {limit} bytes")


async def _send_error(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message, "detail": []}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
]


class SecurityHeadersMiddleware:
    """Add security headers; log method, route and status only (never client IP or agent)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add headers to every response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status_holder = [0]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers.extend((k, v) for k, v in SECURITY_HEADERS if k not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
        if log.isEnabledFor(logging.INFO):
            route = scope.get("route")
            path = getattr(route, "path", "-") if route is not None else "-"
            log.info(
                "%s %s %d %.1fms",
                scope["method"],
                path,
                status_holder[0],
                (time.perf_counter() - start) * 1000,
            )


class LocaleMiddleware:
    """Set the request's language: ?lang=, then the lang cookie, then Accept-Language."""

    def __init__(self, app: ASGIApp, default_language: str) -> None:
        self.app = app
        self.default_language = default_language

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Choose the language, run the app with it current, then restore the previous one."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        language = choose_language(scope, self.default_language)
        scope.setdefault("state", {})["language"] = language
        token = i18n.set_language(language)
        try:
            await self.app(scope, receive, send)
        finally:
            i18n.reset_language(token)


def choose_language(scope: Scope, default: str) -> str:
    """Return the language a request asks for, by query, cookie or header, else ``default``."""
    query = scope.get("query_string", b"").decode("latin-1")
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key == "lang" and value:
            return i18n.normalise(value, default)
    headers = dict(scope.get("headers", []))
    for cookie in headers.get(b"cookie", b"").decode("latin-1").split(";"):
        key, _, value = cookie.strip().partition("=")
        if key == "lang" and value:
            return i18n.normalise(value, default)
    accept = headers.get(b"accept-language", b"").decode("latin-1")
    return i18n.negotiate(accept, default)

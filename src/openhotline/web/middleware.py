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
        # `serve` attaches no handler to this logger: without this check every request
        # built a record that was then dropped (~6% of the intake's event-loop thread).
        if log.isEnabledFor(logging.INFO) and log.hasHandlers():
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
    """Set the request's language: ?lang=, then Accept-Language, then the default.

    No cookie: the public pages promise to store none, so a chosen language travels in the
    links and forms of the pages instead (``i18n.with_language``). Console and API paths are
    offered in ``i18n.CONSOLE_LANGUAGES`` only. Every answer varies by Accept-Language.
    """

    def __init__(self, app: ASGIApp, default_language: str) -> None:
        self.app = app
        self.default_language = default_language

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Choose the language, run the app with it current, then restore the previous one."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = i18n.offered_languages(scope.get("path", ""))
        default = self.default_language if self.default_language in offered else offered[0]
        chosen = chosen_language(scope, offered)
        language = chosen or i18n.negotiate(_header(scope, b"accept-language"), default, offered)
        scope.setdefault("state", {})["language"] = language

        async def send_with_vary(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                for index, (name, value) in enumerate(headers):
                    if name.lower() == b"vary":
                        if b"accept-language" not in value.lower():
                            headers[index] = (name, value + b", Accept-Language")
                        break
                else:
                    headers.append((b"vary", b"Accept-Language"))
                message = {**message, "headers": headers}
            await send(message)

        token = i18n.set_language(language)
        chosen_token = i18n.set_chosen(chosen)
        try:
            await self.app(scope, receive, send_with_vary)
        finally:
            i18n.reset_chosen(chosen_token)
            i18n.reset_language(token)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


def chosen_language(scope: Scope, offered: tuple[str, ...] = i18n.LANGUAGES) -> str | None:
    """The offered language a request names with ?lang=, else None (then negotiate)."""
    query = scope.get("query_string", b"").decode("latin-1")
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key == "lang" and value:
            code = i18n.normalise(value, default="", offered=offered)
            return code or None
    return None

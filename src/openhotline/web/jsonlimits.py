"""The one JSON reader for request bodies: bounded nesting depth and number size.

Python's json module turns a 5,000-digit integer into a ValueError (int conversion limit) and
arrays nested thousands deep into a RecursionError; both surfaced as HTTP 500. Every JSON body
goes through `loads` (the middleware below checks each JSON request before any route, including
the ones whose body FastAPI parses itself), so a hostile body is a 400 with a message.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Our documents are flat (a report is two levels deep, a batch four): 32 leaves ample room.
MAX_DEPTH = 32
# The longest number literal we read: a 64-bit id has 20 characters, a float at most ~25.
MAX_NUMBER_CHARS = 40
# Where the middleware leaves the parsed body for json_object_body (scope state, one parse).
STATE_KEY = "openhotline_json_body"


class JsonLimitError(ValueError):
    """A JSON document over the depth or number-size limit."""


def _bounded_int(literal: str) -> int:
    if len(literal) > MAX_NUMBER_CHARS:
        raise JsonLimitError(f"a number has more than {MAX_NUMBER_CHARS} characters")
    return int(literal)


def _bounded_float(literal: str) -> float:
    if len(literal) > MAX_NUMBER_CHARS:
        raise JsonLimitError(f"a number has more than {MAX_NUMBER_CHARS} characters")
    value = float(literal)
    if value in (float("inf"), float("-inf")):
        raise JsonLimitError("a number is out of range")
    return value


def _no_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; Python accepts them unless told otherwise.
    raise JsonLimitError(f"{name} is not a JSON value")


def _check_depth(value: Any) -> None:
    """Walk the parsed document without recursion; refuse one nested deeper than MAX_DEPTH."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > MAX_DEPTH:
            raise JsonLimitError(f"nested deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


# One decoder for every body: json.loads with hooks builds a new one on each call.
_DECODER = json.JSONDecoder(
    parse_int=_bounded_int, parse_float=_bounded_float, parse_constant=_no_constant
)


def loads(text: str | bytes) -> Any:
    """Parse JSON with the limits; JsonLimitError for a limit, JSONDecodeError for bad syntax."""
    # What json.loads does before its decoder: bytes by their detected encoding, no BOM.
    if isinstance(text, bytes | bytearray):
        text = text.decode(json.detect_encoding(text), "surrogatepass")
    elif text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    try:
        value = _DECODER.decode(text)
    except RecursionError as exc:
        # The C scanner stops near the interpreter's recursion limit (~1,000 levels).
        raise JsonLimitError(f"nested deeper than {MAX_DEPTH} levels") from exc
    # A document cannot be nested deeper than it has brackets (those inside strings only
    # add to the count): a single report has a handful, so the walk is skipped.
    if text.count("[") + text.count("{") > MAX_DEPTH:
        _check_depth(value)
    return value


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            # The test FastAPI applies: any type whose subtype is json or ends with +json.
            subtype: bytes = value.split(b";", 1)[0].strip().lower().rpartition(b"/")[2]
            return subtype == b"json" or subtype.endswith(b"+json")
    # FastAPI reads a body without a content type as JSON, so it is checked as JSON too.
    return True


class JsonLimitMiddleware:
    """Check every JSON request body against the limits before any route or FastAPI parses it.

    Bodies that are not valid JSON at all pass through (the route answers them as before);
    bodies over a limit are a 400; a valid body is parsed once and left in the scope's state.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Buffer a JSON body, check it, and replay it to the app."""
        if (
            scope["type"] != "http"
            or scope["method"] not in ("POST", "PUT", "PATCH", "DELETE")
            or not _is_json(scope)
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)  # disconnected: let the app see it
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        raw = b"".join(chunks)
        if raw:
            try:
                parsed = loads(raw.decode("utf-8"))
            except JsonLimitError as exc:
                await _send_400(send, f"body refused: {exc}")
                return
            except ValueError:
                pass  # not UTF-8 or not JSON: the route's own reader says what is wrong
            else:
                scope.setdefault("state", {})[STATE_KEY] = parsed
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _send_400(send: Send, message: str) -> None:
    body = json.dumps({"error": message, "detail": []}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

"""FastAPI dependencies shared by every domain: services, settings, sessions, JSON bodies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from openhotline.config import Settings
from openhotline.db import GroupCommitter
from openhotline.errors import RejectedError
from openhotline.web.errors import ApiError
from openhotline.web.jsonlimits import STATE_KEY, JsonLimitError, loads
from openhotline.web.ratelimit import public_rate_limit

if TYPE_CHECKING:
    from openhotline.bootstrap import Services


def services_of(request: Request) -> Services:
    """The composition root's services this app was built with."""
    services: Services = request.app.state.services
    return services


async def get_settings_dep(request: Request) -> Settings:
    """Return the settings the app was built with."""
    return services_of(request).settings


async def get_db(request: Request) -> sessionmaker[Session]:
    """Return the session factory; routes open a transaction with `with db.begin() as s`."""
    return services_of(request).sessionmaker


async def get_committer(request: Request) -> GroupCommitter:
    """Return the group committer for high-volume writes (report intake)."""
    committer: GroupCommitter = request.app.state.committer
    return committer


CommitterDep = Annotated[GroupCommitter, Depends(get_committer)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DbDep = Annotated[sessionmaker[Session], Depends(get_db)]


async def json_object_body(request: Request) -> dict[str, Any]:
    """Read the body as strict UTF-8 JSON holding an object, with clear 4xx errors."""
    ctype = request.headers.get("content-type", "")
    if ctype and "json" not in ctype.lower():
        raise ApiError(415, "send the body as application/json")
    state = request.scope.get("state", {})
    if STATE_KEY in state:
        data = state[STATE_KEY]  # parsed once, with the limits, by JsonLimitMiddleware
    else:
        raw = await request.body()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RejectedError(f"body is not valid UTF-8 (byte {exc.start})") from exc
        try:
            data = loads(text)
        except JsonLimitError as exc:
            raise RejectedError(f"body refused: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise RejectedError(f"body is not valid JSON: {exc.msg} at line {exc.lineno}") from exc
    if not isinstance(data, dict):
        raise RejectedError("body must be a JSON object")
    return data


JsonBody = Annotated[dict[str, Any], Depends(json_object_body)]


@dataclass(frozen=True, slots=True)
class Intake:
    """What a report-intake route needs: its JSON body, the settings and the group committer."""

    body: dict[str, Any]
    settings: Settings
    committer: GroupCommitter


# The intake routes take these as one dependency rather than four (body, committer, settings,
# rate limit): FastAPI's resolution of each dependency, however trivial, cost more of the
# event-loop thread than the rest of the route (~45% of it was FastAPI's request machinery).
async def intake(request: Request) -> Intake:
    """The JSON body (clear 4xx errors as json_object_body), settings and committer."""
    body = await json_object_body(request)
    return Intake(body, services_of(request).settings, request.app.state.committer)


async def public_intake(request: Request) -> Intake:
    """Like intake(), after the public rate limit (429 before the body is looked at)."""
    await public_rate_limit(request)
    return await intake(request)


IntakeDep = Annotated[Intake, Depends(intake)]
PublicIntakeDep = Annotated[Intake, Depends(public_intake)]


def json_answer(
    data: dict[str, Any], status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A JSON answer already shaped as the route's response model, sent as it is.

    FastAPI would validate it against the response model once more and encode it; the
    intake routes build their answers from that model, so they skip the second pass (the
    OpenAPI document still names the model). Same bytes as FastAPI's compact encoding.
    """
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code, headers, media_type="application/json")


def _inline_defs(node: Any, defs: dict[str, Any]) -> Any:
    """Replace '#/$defs/X' references by X's schema (ours are not recursive)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline_defs(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline_defs(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_defs(v, defs) for v in node]
    return node


def json_body_doc(model: type[BaseModel], media_type: str = "application/json") -> dict[str, Any]:
    """openapi_extra documenting a JsonBody route's body as model, self-contained.

    pydantic's schema keeps nested models under '$defs' with '#/$defs/...' references, which
    do not resolve inside an OpenAPI document; they are inlined here.
    """
    schema = model.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {media_type: {"schema": _inline_defs(schema, schema.get("$defs", {}))}},
        }
    }

"""FastAPI dependencies: settings, database sessions, request bodies, partner keys."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from openhotline.config import Settings
from openhotline.db import GroupCommitter
from openhotline.errors import ForbiddenError, RejectedError, UnauthenticatedError
from openhotline.media.store import MediaStore
from openhotline.partners import service as partner_service
from openhotline.partners.models import Scope
from openhotline.partners.service import PartnerIdentity
from openhotline.web.errors import ApiError


async def get_settings_dep(request: Request) -> Settings:
    """Return the settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_db(request: Request) -> sessionmaker[Session]:
    """Return the session factory; routes open a transaction with `with db.begin() as s`."""
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    return factory


async def get_media_store(request: Request) -> MediaStore:
    """Return the configured (encrypted) media store."""
    store: MediaStore = request.app.state.media_store
    return store


MediaStoreDep = Annotated[MediaStore, Depends(get_media_store)]


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
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RejectedError(f"body is not valid UTF-8 (byte {exc.start})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RejectedError(f"body is not valid JSON: {exc.msg} at line {exc.lineno}") from exc
    if not isinstance(data, dict):
        raise RejectedError("body must be a JSON object")
    return data


JsonBody = Annotated[dict[str, Any], Depends(json_object_body)]


async def partner_key(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> PartnerIdentity:
    """Authenticate a partner by API key (Bearer or X-API-Key): database keys, then static."""
    key = x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        key = authorization[7:].strip()
    if not key:
        raise UnauthenticatedError("an API key is required (Authorization: Bearer <key>)")
    settings: Settings = request.app.state.settings
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    client_ip = request.client.host if request.client else None

    def lookup(token: str) -> PartnerIdentity:
        with factory.begin() as session:
            return partner_service.authenticate(
                session,
                token,
                client_ip,
                static_digests=settings.partner_api_key_hashes,
                static_scopes=settings.partner_static_key_scopes,
            )

    # The database lookup runs in the thread pool, off the event loop.
    return await run_in_threadpool(lookup, key)


class RequireScope:
    """Dependency: a partner key (see partner_key) that carries `scope`."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(
        self, partner: Annotated[PartnerIdentity, Depends(partner_key)]
    ) -> PartnerIdentity:
        """Refuse with 403 when the key lacks the scope (async: no thread-pool hop)."""
        if self.scope not in partner.scopes:
            raise ForbiddenError(f"this API key lacks the scope {self.scope.value}")
        return partner

    def __repr__(self) -> str:
        return f"require_scope({self.scope.value})"


def require_scope(scope: Scope) -> RequireScope:
    """Return the dependency that requires a partner key with `scope`."""
    return RequireScope(scope)


PartnerDep = Annotated[PartnerIdentity, Depends(require_scope(Scope.SUBMIT_REPORTS))]
MatchPartnerDep = Annotated[PartnerIdentity, Depends(require_scope(Scope.MATCH_HASHES))]

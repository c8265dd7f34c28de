"""FastAPI dependencies of partner API keys: who is calling, and with which scopes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool

from openhotline.errors import ForbiddenError, UnauthenticatedError
from openhotline.partners import service as partner_service
from openhotline.partners.models import Scope
from openhotline.partners.service import PartnerIdentity
from openhotline.web.deps import services_of


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
    settings = services_of(request).settings
    factory = services_of(request).sessionmaker
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

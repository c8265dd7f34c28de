"""JSON routes of federation: receive referrals and status updates; refer a case (staff)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.config import Settings
from openhotline.errors import ForbiddenError, InvalidError, RejectedError, UnauthenticatedError
from openhotline.federation import service
from openhotline.federation.schemas import ReferralBody, StatusBody
from openhotline.federation.tasks import SENDER_HEADER, SIGNATURE_HEADER
from openhotline.partners.deps import require_scope
from openhotline.partners.models import OrgKind, Scope
from openhotline.partners.service import PartnerIdentity
from openhotline.signing.service import SignatureError, verify
from openhotline.web.deps import DbDep, JsonBody, SettingsDep, json_body_doc
from openhotline.web.errors import validate_as
from openhotline.web.params import DbId

router = APIRouter(prefix="/api/v1/federation", tags=["federation"])
PeerKey = Annotated[PartnerIdentity, Depends(require_scope(Scope.RECEIVE_REFERRALS))]


async def _signed_body(
    request: Request, partner: PartnerIdentity, settings: Settings, model: type[BaseModel]
) -> Any:
    """Check the sender is a configured peer hotline and its signature; parse the body."""
    sender = request.headers.get(SENDER_HEADER, "").upper()
    peer = settings.federation_peers.get(sender)
    if peer is None:
        raise ForbiddenError(f"no partner hotline configured for {sender or '(no sender)'}")
    if partner.kind is not None and (
        partner.kind != OrgKind.HOTLINE or (partner.country or sender) != sender
    ):
        raise ForbiddenError("this API key does not belong to that partner hotline")
    raw = await request.body()
    try:
        verify(raw, request.headers.get(SIGNATURE_HEADER, ""), peer.public_key)
    except SignatureError as exc:
        # A body we cannot verify does not prove who sent it: unauthenticated, not bad input.
        raise UnauthenticatedError(f"bad signature: {exc}") from exc
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RejectedError(f"body is not valid JSON: {exc.msg}") from exc
    body = validate_as(model, data, "invalid message")
    if getattr(body, "sender", None) != sender:
        raise InvalidError("the body's sender does not match the signing hotline")
    return body


@router.post("/referrals", summary="Receive a referral from a partner hotline (signed)")
async def receive_referral(
    request: Request, partner: PeerKey, settings: SettingsDep, db: DbDep
) -> dict[str, Any]:
    """Accept a referral; sending the same referral_id again returns the same answer."""
    body: ReferralBody = await _signed_body(request, partner, settings, ReferralBody)

    def store() -> dict[str, Any]:
        with db.begin() as s:
            referral, created = service.receive_referral(s, body, settings, actor=partner.actor)
            return {
                "referral_id": referral.referral_id,
                "status": referral.status,
                "duplicate": not created,
            }

    return await run_in_threadpool(store)


@router.post("/status", summary="Receive a status update on a referral we sent (signed)")
async def receive_status(
    request: Request, partner: PeerKey, settings: SettingsDep, db: DbDep
) -> dict[str, Any]:
    """Apply a status update (received, assessed, notice_sent, removed, closed)."""
    body: StatusBody = await _signed_body(request, partner, settings, StatusBody)

    def store() -> dict[str, Any]:
        with db.begin() as s:
            referral = service.receive_status(s, body, actor=partner.actor)
            return {"referral_id": referral.referral_id, "status": referral.status}

    return await run_in_threadpool(store)


class ReferIn(BaseModel):
    """Refer a case to the partner hotline of a country."""

    case_id: DbId
    country: str


@router.post(
    "/refer",
    status_code=202,
    summary="Refer a case to a partner hotline (staff)",
    openapi_extra=json_body_doc(ReferIn),
)
def refer(
    principal: Annotated[Principal, Depends(require(Permission.REFERRALS_SEND))],
    body: JsonBody,
    settings: SettingsDep,
    db: DbDep,
) -> dict[str, Any]:
    """Queue the referral in the outbox; it is sent (and retried) by the outbox job."""
    data = validate_as(ReferIn, body, "invalid referral")
    with db.begin() as s:
        referral = service.refer_case(
            s, data.case_id, data.country, settings, actor=principal.actor
        )
        return {"referral_id": referral.referral_id, "status": referral.status}

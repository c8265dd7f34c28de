"""The police API: a police partner's queue, signed packages, acknowledge, clear, hold."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from openhotline.audit.models import AuditAction
from openhotline.exports import service as exports
from openhotline.partners.deps import RequireScope
from openhotline.partners.models import Scope
from openhotline.partners.service import PartnerIdentity, use
from openhotline.police import service
from openhotline.police.schemas import DecisionOut, HoldIn, ReferralOut
from openhotline.signing.service import SigningKey
from openhotline.web.deps import DbDep, SettingsDep, services_of
from openhotline.web.params import DbId

router = APIRouter(prefix="/api/v1/police", tags=["police"])
Police = Annotated[PartnerIdentity, Depends(RequireScope(Scope.POLICE_REFERRALS))]


def _signer(request: Request) -> SigningKey:
    return services_of(request).signer


KeyDep = Annotated[SigningKey, Depends(_signer)]


@router.get("/referrals", response_model=list[ReferralOut], summary="This police partner's queue")
def referrals(
    partner: Police, db: DbDep, decided: Annotated[bool, Query(alias="all")] = False
) -> list[ReferralOut]:
    """Open referrals oldest first (?all=true: decided ones too), with SLA clocks."""
    with db.begin() as s:
        channel = service.channel_of(s, partner.org_id)
        return [ReferralOut.of(e) for e in service.queue(s, channel, open_only=not decided)]


@router.get("/referrals/{referral_id}", response_model=ReferralOut, summary="One referral")
def referral(partner: Police, referral_id: DbId, db: DbDep) -> ReferralOut:
    """One referral of this police partner."""
    with db.begin() as s:
        channel = service.channel_of(s, partner.org_id)
        return ReferralOut.of(service.referral_for(s, referral_id, channel))


@router.get("/referrals/{referral_id}/package", summary="The signed evidence package (zip)")
def package(
    partner: Police, referral_id: DbId, db: DbDep, key: KeyDep, settings: SettingsDep
) -> Response:
    """The case's signed package (no media: those travel by arrangement); audited."""
    with db.begin() as s:
        channel = service.channel_of(s, partner.org_id)
        entry = service.referral_for(s, referral_id, channel)
        export = exports.police_export(
            s, entry.referral.case_id, key, actor=partner.actor, hotline=settings.hotline_name
        )
        service.mark_delivered(s, entry.referral, partner.actor)
        use(s, partner, AuditAction.EXPORT_POLICE, f"referral:{referral_id}")
    name = f"case-{entry.referral.case_id}-{export.export_id}.zip"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    return Response(export.data, media_type="application/zip", headers=headers)


@router.post(
    "/referrals/{referral_id}/acknowledge", response_model=ReferralOut, summary="Acknowledge"
)
def acknowledge(partner: Police, referral_id: DbId, db: DbDep) -> ReferralOut:
    """Police have it in hand: stops the acknowledgement clock (idempotent)."""
    with db.begin() as s:
        entry = service.referral_for(s, referral_id, service.channel_of(s, partner.org_id))
        service.acknowledge(s, entry.referral, partner.actor)
        return ReferralOut.of(service.referral_for(s, referral_id))


@router.post("/referrals/{referral_id}/clear", response_model=DecisionOut, summary="Clear")
def clear(partner: Police, referral_id: DbId, db: DbDep) -> DecisionOut:
    """Police clear the case: held notices go to the host (lifts an earlier hold)."""
    with db.begin() as s:
        entry = service.referral_for(s, referral_id, service.channel_of(s, partner.org_id))
        released = service.clear(s, entry.referral, partner.actor)
        return DecisionOut(
            referral=ReferralOut.of(service.referral_for(s, referral_id)), notices=released
        )


@router.post("/referrals/{referral_id}/hold", response_model=DecisionOut, summary="Hold")
def hold(partner: Police, referral_id: DbId, body: HoldIn, db: DbDep) -> DecisionOut:
    """Police hold the case: notices wait and the case's evidence is under legal hold."""
    with db.begin() as s:
        entry = service.referral_for(s, referral_id, service.channel_of(s, partner.org_id))
        held = service.hold(s, entry.referral, body.reason, partner.actor)
        return DecisionOut(
            referral=ReferralOut.of(service.referral_for(s, referral_id)), notices=held
        )

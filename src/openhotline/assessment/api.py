"""JSON routes of assessment: URL-level decisions on cases with nothing captured (staff)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.assessment import url_decisions
from openhotline.assessment.policy import policy_in_force
from openhotline.assessment.service import Actor
from openhotline.web.deps import DbDep, SettingsDep

router = APIRouter(prefix="/api/v1/cases", tags=["assessment"])

Assessor = Annotated[Principal, Depends(require(Permission.ITEM_ASSESS))]
Resolver = Annotated[Principal, Depends(require(Permission.DISPUTE_RESOLVE))]
CaseId = Annotated[int, Path(ge=1, le=2_147_483_647)]


class UrlDecisionIn(BaseModel):
    """A grade of the URL as a whole: a class of the scheme and its fields."""

    classification: str = Field(min_length=1, max_length=40)
    fields: dict[str, str] = Field(default_factory=dict, max_length=50)


class UrlDecisionOut(BaseModel):
    """Where the URL-level decision stands for the caller (blind while confirming)."""

    case_id: int
    state: str | None
    may_decide: bool
    classification: str | None


def _out(principal: Principal, db: DbDep, case_id: int) -> UrlDecisionOut:
    with db() as session:
        view = url_decisions.view_for(
            session,
            case_id,
            principal.user_id,
            can_resolve=principal.can(Permission.DISPUTE_RESOLVE),
        )
    return UrlDecisionOut(
        case_id=case_id,
        state=view.state,
        may_decide=view.may_decide,
        classification=view.classification,
    )


@router.get("/{case_id}/url-decision", summary="Where a URL-level decision stands")
def url_decision_state(principal: Assessor, case_id: CaseId, db: DbDep) -> UrlDecisionOut:
    """The state of the case's URL-level decision; the earlier grade is never shown."""
    return _out(principal, db, case_id)


@router.post("/{case_id}/url-decision", summary="Grade a URL as a whole (four eyes, blind)")
def url_decision(
    principal: Assessor, case_id: CaseId, body: UrlDecisionIn, db: DbDep, settings: SettingsDep
) -> UrlDecisionOut:
    """Grade a case's URL when nothing could be captured; two agreeing analysts action it."""
    actor = Actor(principal.user_id, principal.actor)
    with db.begin() as session:
        policy = policy_in_force(settings, session)
        url_decisions.decide(session, case_id, actor, body.classification, body.fields, policy)
    return _out(principal, db, case_id)


@router.post("/{case_id}/url-decision/resolve", summary="Settle a disputed URL decision")
def url_decision_resolve(
    principal: Resolver, case_id: CaseId, body: UrlDecisionIn, db: DbDep, settings: SettingsDep
) -> UrlDecisionOut:
    """A supervisor who did not grade the URL decides it."""
    actor = Actor(principal.user_id, principal.actor)
    with db.begin() as session:
        policy = policy_in_force(settings, session)
        url_decisions.resolve(session, case_id, actor, body.classification, body.fields, policy)
    return _out(principal, db, case_id)

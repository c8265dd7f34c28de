"""JSON routes of takedown: statistics, and the signed link hosts use to confirm removal."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.cases.models import Case
from openhotline.errors import NotFoundError
from openhotline.jobs import service as jobs
from openhotline.takedown import service
from openhotline.takedown.notices import verify
from openhotline.takedown.schemas import (
    CaseTakedownOut,
    ConfirmOut,
    NoticeOut,
    ReferralOut,
    SendOut,
    TakedownStatsOut,
    TraceOut,
)
from openhotline.takedown.stats import takedown_stats
from openhotline.web.deps import DbDep, services_of
from openhotline.web.params import DbId

router = APIRouter(prefix="/api/v1", tags=["takedown"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": "error"} for code in (401, 403, 404)
}


@router.get(
    "/stats/takedown",
    response_model=TakedownStatsOut,
    responses=ERRORS,
    summary="Time to notice, time to removal, notices per case, host and country",
    dependencies=[Depends(require(Permission.STATS_VIEW))],
)
def stats(db: DbDep) -> TakedownStatsOut:
    """Takedown statistics computed from timestamps."""
    with db() as session:
        return TakedownStatsOut.model_validate(takedown_stats(session))


@router.get(
    "/notices/{notice_id}/confirm",
    response_model=ConfirmOut,
    responses=ERRORS,
    summary="A host confirms removal (signed link from the notice)",
)
def confirm(
    request: Request, notice_id: DbId, db: DbDep, sig: str = Query(max_length=100)
) -> ConfirmOut:
    """Record the host's confirmation and queue a re-check at source."""
    if not verify(services_of(request).notice_link_key, notice_id, sig):
        raise NotFoundError("unknown or invalid confirmation link")
    with db.begin() as session:
        notice = service.host_confirmed(session, notice_id)
        if notice is None:
            raise NotFoundError("unknown or invalid confirmation link")
        jobs.enqueue(
            session,
            "takedown.recheck",
            {"case_id": notice.case_id},
            dedupe_key=f"recheck:{notice.case_id}:confirm:{notice_id}:{int(time.time() // 600)}",
        )
    return ConfirmOut(
        status="received",
        message="Thank you. We will verify the removal at source and stop sending notices.",
    )


@router.get(
    "/cases/{case_id}/takedown",
    response_model=CaseTakedownOut,
    responses=ERRORS,
    summary="Hosting traces, notices and referrals of a case",
)
def case_takedown(
    case_id: DbId,
    db: DbDep,
    principal: Annotated[Principal, Depends(require(Permission.CASE_VIEW))],
) -> CaseTakedownOut:
    """Where a case is hosted and what was done about it (the view is audited)."""
    with db.begin() as session:
        case = session.get(Case, case_id)
        if case is None:
            raise NotFoundError("no such case")
        data = service.case_takedown(session, case_id)
        audit.record(session, principal.actor, AuditAction.TAKEDOWN_VIEW, f"case:{case_id}")
        return CaseTakedownOut(
            case_id=case_id,
            status=case.status,
            traces=[TraceOut.model_validate(t) for t in data.traces],
            notices=[NoticeOut.model_validate(n) for n in data.notices],
            sends=[SendOut.model_validate(x) for x in data.sends],
            referrals=[ReferralOut.model_validate(r) for r in data.referrals],
        )

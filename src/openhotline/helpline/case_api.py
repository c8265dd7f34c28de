"""JSON routes of helpline cases (thin): search, read, update, tasks and referrals.

The same operations as the counsellor's case pages, for helplines that script their work or
connect another CRM. Console sessions authenticate these routes (writes carry the session's
CSRF token in the X-CSRF-Token header); every read of a case is audited as on the page.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.db import clock_of
from openhotline.errors import InvalidError
from openhotline.helpline import cases
from openhotline.helpline.case_models import CaseReferral, CaseStatus, CaseTask, HelplineCase
from openhotline.helpline.crypto import FieldCipher
from openhotline.helpline.schemas import (
    CaseContactOut,
    CaseOut,
    CaseReferralIn,
    CaseReferralOut,
    CaseSummaryOut,
    CaseTaskIn,
    CaseTaskOut,
    CaseUpdateIn,
    ReferralOutcomeIn,
)
from openhotline.helpline.webdeps import CipherDep, TaxonomyDep
from openhotline.web.deps import DbDep
from openhotline.web.params import DbId

router = APIRouter(prefix="/api/v1/helpline/cases", tags=["helpline"])

CaseWorker = Annotated[Principal, Depends(require(Permission.HELPLINE_CASES))]


def _summary(case: HelplineCase, now: datetime) -> CaseSummaryOut:
    open_tasks = [t for t in case.tasks if t.done_at is None]
    return CaseSummaryOut(
        id=case.id,
        mode=case.mode,
        status=str(case.status),
        counsellor=case.counsellor,
        opened_at=case.opened_at,
        updated_at=case.updated_at,
        closed_at=case.closed_at,
        contacts=len(case.links),
        open_tasks=len(open_tasks),
        overdue_tasks=sum(1 for t in open_tasks if cases.is_overdue(t, now)),
    )


def _task_out(task: CaseTask, cipher: FieldCipher, now: datetime) -> CaseTaskOut:
    return CaseTaskOut(
        id=task.id,
        title=cases.task_title(task, cipher),
        due_at=task.due_at,
        done_at=task.done_at,
        overdue=cases.is_overdue(task, now),
    )


def _referral_out(referral: CaseReferral) -> CaseReferralOut:
    return CaseReferralOut(
        id=referral.id,
        agency=referral.agency,
        made_at=referral.made_at,
        outcome=referral.outcome,
        outcome_at=referral.outcome_at,
    )


def _case_out(session: Session, case: HelplineCase, cipher: FieldCipher) -> CaseOut:
    now = clock_of(session).now()
    return CaseOut(
        **_summary(case, now).model_dump(),
        summary=cases.read_summary(case, cipher),
        contact_list=[
            CaseContactOut(
                id=c.id,
                period=c.period,
                channel=c.channel,
                contact_type=c.contact_type,
                outcome=c.outcome,
                counsellor=c.counsellor,
            )
            for c in cases.contacts_of(case)
        ],
        tasks=[_task_out(t, cipher, now) for t in case.tasks],
        referrals=[_referral_out(r) for r in case.case_referrals],
    )


def _day(value: date | None) -> datetime | None:
    return datetime.combine(value, time(), UTC) if value is not None else None


@router.get("", response_model=list[CaseSummaryOut], summary="Search helpline cases")
def search(
    principal: CaseWorker,
    db: DbDep,
    taxonomy: TaxonomyDep,
    case_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    category: Annotated[str | None, Query(max_length=60)] = None,
    date_from: date | None = None,
    date_to: date | None = None,
    counsellor: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[CaseSummaryOut]:
    """Cases by id, category, dates (open during them; inclusive), counsellor and status."""
    if category and category not in taxonomy.categories:
        raise InvalidError(f"category: unknown code {category!r}")
    if status and status not in CaseStatus.__members__.values():
        raise InvalidError("status: open, waiting or closed")
    end = _day(date_to)
    f = cases.CaseSearch(
        case_id=case_id,
        category=category or None,
        date_from=_day(date_from),
        date_to=end + timedelta(days=1) if end else None,
        counsellor=counsellor or None,
        status=status or None,
    )
    with db.begin() as session:
        now = clock_of(session).now()
        return [_summary(c, now) for c in cases.search_cases(session, f, limit=limit)]


@router.get("/{case_id}", response_model=CaseOut, summary="One helpline case")
def read(principal: CaseWorker, db: DbDep, cipher: CipherDep, case_id: DbId) -> CaseOut:
    """The case with its summary, contacts, tasks and referrals (the read is audited)."""
    with db.begin() as session:
        case = cases.get_case(session, case_id)
        cases.view_case(session, case, actor=principal.actor)
        return _case_out(session, case, cipher)


@router.patch("/{case_id}", response_model=CaseOut, summary="Update a helpline case")
def update(
    principal: CaseWorker, db: DbDep, cipher: CipherDep, case_id: DbId, body: CaseUpdateIn
) -> CaseOut:
    """Change status, assignment or summary (audited; the summary never enters the log)."""
    with db.begin() as session:
        case = cases.get_case(session, case_id)
        cases.update_case(
            session,
            case,
            actor=principal.actor,
            cipher=cipher,
            status=body.status,
            counsellor=body.counsellor,
            summary=body.summary,
        )
        return _case_out(session, case, cipher)


@router.post("/{case_id}/tasks", response_model=CaseTaskOut, status_code=201, summary="Add a task")
def add_task(
    principal: CaseWorker, db: DbDep, cipher: CipherDep, case_id: DbId, body: CaseTaskIn
) -> CaseTaskOut:
    """Add a follow-up task (due date default: in 7 days)."""
    with db.begin() as session:
        case = cases.get_case(session, case_id)
        now = clock_of(session).now()
        due = _day(body.due) or cases.default_due(now)
        task = cases.add_task(
            session, case, title=body.title, due_at=due, actor=principal.actor, cipher=cipher
        )
        return _task_out(task, cipher, now)


@router.post(
    "/{case_id}/tasks/{task_id}/done", response_model=CaseTaskOut, summary="Complete a task"
)
def complete_task(
    principal: CaseWorker, db: DbDep, cipher: CipherDep, case_id: DbId, task_id: DbId
) -> CaseTaskOut:
    """Mark a task done (idempotent)."""
    with db.begin() as session:
        task = cases.complete_task(
            session, cases.get_task(session, case_id, task_id), actor=principal.actor
        )
        return _task_out(task, cipher, clock_of(session).now())


@router.post(
    "/{case_id}/referrals",
    response_model=CaseReferralOut,
    status_code=201,
    summary="Record a referral",
)
def add_referral(
    principal: CaseWorker, db: DbDep, taxonomy: TaxonomyDep, case_id: DbId, body: CaseReferralIn
) -> CaseReferralOut:
    """Record a referral to an agency of the taxonomy (outcome pending)."""
    with db.begin() as session:
        case = cases.get_case(session, case_id)
        referral = cases.add_referral(
            session, case, agency=body.agency, actor=principal.actor, taxonomy=taxonomy
        )
        return _referral_out(referral)


@router.patch(
    "/{case_id}/referrals/{referral_id}",
    response_model=CaseReferralOut,
    summary="Record a referral's outcome",
)
def referral_outcome(
    principal: CaseWorker,
    db: DbDep,
    case_id: DbId,
    referral_id: DbId,
    body: ReferralOutcomeIn,
) -> CaseReferralOut:
    """Record what came of a referral: pending, accepted, declined or no_response."""
    with db.begin() as session:
        referral = cases.get_referral(session, case_id, referral_id)
        cases.set_referral_outcome(session, referral, outcome=body.outcome, actor=principal.actor)
        return _referral_out(referral)

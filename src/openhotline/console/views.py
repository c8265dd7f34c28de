"""HTML routes of the console: home, triage queue, item page (claim, grade), closing a case."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.assessment import exposure, queue, service
from openhotline.assessment.models import ItemReview
from openhotline.assessment.schemes import SchemeError
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.cases.models import Case
from openhotline.casework import dashboard
from openhotline.console.pages import actor_of, load_policy, render
from openhotline.matching import service as bank_service
from openhotline.matching.api import get_engine
from openhotline.matching.policy import split_classification
from openhotline.media.models import CaseItem, Item, ItemVideo
from openhotline.media.preview import SHEET_GRID
from openhotline.media.video import HOW_TO_ENABLE
from openhotline.web.deps import DbDep, SettingsDep
from openhotline.web.params import DbId, PageNumber

router = APIRouter(prefix="/console", include_in_schema=False)

ConsoleUser = Annotated[Principal, Depends(require(Permission.CONSOLE_VIEW))]
QueueUser = Annotated[Principal, Depends(require(Permission.QUEUE_VIEW))]
Assessor = Annotated[Principal, Depends(require(Permission.ITEM_ASSESS))]
CaseViewer = Annotated[Principal, Depends(require(Permission.CASE_VIEW))]


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _int_or_none(text: str) -> int | None:
    return int(text) if text.strip().isdigit() and len(text.strip()) < 7 else None


@router.get("/", response_class=HTMLResponse)
def home(request: Request, db: DbDep, settings: SettingsDep, principal: ConsoleUser) -> Response:
    """The dashboard: what waits for this role, what is late, whether the worker runs."""
    hotline = "hotline" in settings.modules
    with db() as session:
        board = dashboard.build(
            session,
            queue=principal.can(Permission.QUEUE_VIEW),
            cases=hotline and principal.can(Permission.CASE_VIEW),
            operations=principal.can(Permission.JOBS_MANAGE),
        )
    return render(request, "console/home.html", principal, board=board, counts=board.queue)


@router.get("/queue", response_class=HTMLResponse)
def queue_page(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    principal: QueueUser,
    state: str = "",
    source: str = "",
    min_age: str = "",
    max_age: str = "",
    page: PageNumber = 0,
) -> Response:
    """The triage queue: urgent first, then new content, then the rest; oldest first."""
    filters = queue.QueueFilters(
        state=state or None,
        source=source.strip()[:100] or None,
        min_age_hours=_int_or_none(min_age),
        max_age_hours=_int_or_none(max_age),
    )
    page = max(0, min(page, 10_000))
    with db.begin() as session:
        entries = queue.list_queue(
            session,
            actor_of(principal),
            filters,
            limit=50,
            offset=page * 50,
            engine=get_engine(request),
        )
        budget = exposure.budget_of(session, principal.user_id, load_policy(db, settings))
        cases = queue.list_cases_without_items(session, limit=20)
    return render(
        request,
        "console/queue.html",
        principal,
        entries=entries,
        cases=cases,
        filters=filters,
        budget=budget,
        page=page,
        urgent=queue.urgent_flag,
    )


@router.post("/items/{item_id}/claim")
def claim_item(
    request: Request, item_id: DbId, db: DbDep, settings: SettingsDep, principal: Assessor
) -> Response:
    """Claim an item, then open it."""
    error = ""
    try:
        with db.begin() as session:
            try:
                queue.claim(
                    session,
                    item_id,
                    actor_of(principal),
                    load_policy(db, settings),
                    get_engine(request),
                )
            except service.KnownContentError:
                error = "known"  # commit: the item was just assessed automatically
    except service.AssessmentError as exc:
        error = str(exc)
    if error == "known":
        return _see_other("/console/queue?msg=known")
    if error:
        return _see_other(f"/console/items/{item_id}")
    return _see_other(f"/console/items/{item_id}?msg=claimed")


@router.post("/items/{item_id}/release")
def release_item(item_id: DbId, db: DbDep, principal: Assessor) -> Response:
    """Give an item back to the queue."""
    with db.begin() as session:
        exposure.hide(session, principal.user_id, principal.actor)
        queue.release(session, item_id, actor_of(principal))
    return _see_other("/console/queue?msg=released")


@router.get("/items/{item_id}", response_class=HTMLResponse)
def item_page(
    request: Request, item_id: DbId, db: DbDep, settings: SettingsDep, principal: Assessor
) -> Response:
    """One item: its cases, the (blurred) preview once claimed, and the grading form."""
    policy = load_policy(db, settings)
    with db.begin() as session:
        item = session.get(Item, item_id)
        if item is None:
            return render(request, "console/error.html", principal, 404, error="No such item.")
        known = service.check_known(session, item, get_engine(request))
        review = session.get(ItemReview, item_id)
        mine = queue.active_claim(session, item_id, principal.user_id) is not None
        holder = queue.claim_holder(session, item_id)
        revealed = exposure.open_reveal(session, principal.user_id, item_id) if mine else None
        budget = exposure.budget_of(session, principal.user_id, policy)
        cases = list(
            session.execute(
                select(Case)
                .join(CaseItem, CaseItem.case_id == Case.id)
                .where(CaseItem.item_id == item_id)
            ).scalars()
        )
        graded = any(g.user_id == principal.user_id for g in service.grades_of(session, item_id))
        hints = [
            {"bank": name, "hash_type": h.hash_type, "distance": h.distance,
             "classification": h.classification,
             "local": policy.scheme.label(split_classification(h.local_classification)[1])
             if h.local_classification else ""}
            for h, name in bank_service.hints_for(session, item_id)
        ]  # fmt: skip
        video = session.get(ItemVideo, item_id)
        audit.record(
            session, principal.actor, AuditAction.ITEM_VIEW, f"item:{item_id}", {"claimed": mine}
        )
    return render(
        request,
        "console/item.html",
        principal,
        video=video,
        is_video=item.media_type.startswith("video/"),
        video_help=HOW_TO_ENABLE,
        sheet_frames=SHEET_GRID * SHEET_GRID,
        item=item,
        known=known,
        review=review,
        mine=mine,
        holder=holder,
        revealed=revealed,
        budget=budget,
        cases=cases,
        graded=graded,
        hints=hints,
        scheme=policy.scheme,
        urgent=queue.urgent_flag,
    )


@router.post("/items/{item_id}/assess", response_class=HTMLResponse)
async def assess_item(
    request: Request, item_id: DbId, db: DbDep, settings: SettingsDep, principal: Assessor
) -> Response:
    """Save a grade (four eyes applies); back to the queue."""
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    code = values.pop("classification", "")
    policy = load_policy(db, settings)

    def _save() -> tuple[service.GradeOutcome | None, str]:
        try:
            with db.begin() as session:
                exposure.hide(session, principal.user_id, principal.actor)
                outcome = service.assess(
                    session, item_id, actor_of(principal), code, values, policy
                )
            return outcome, ""
        except (service.AssessmentError, SchemeError) as exc:
            return None, str(exc)

    outcome, error = await run_in_threadpool(_save)
    if outcome is None:
        return render(
            request,
            "console/error.html",
            principal,
            400,
            error=error,
            back=f"/console/items/{item_id}",
        )
    msg = {
        "confirming": "confirming",
        "disputed": "disputed",
        "decided": "admitted" if outcome.admitted else "decided",
    }[outcome.state.value]
    return _see_other(f"/console/queue?msg={msg}")


@router.post("/cases/{case_id}/close", response_class=HTMLResponse)
def close_case(
    request: Request,
    case_id: DbId,
    db: DbDep,
    settings: SettingsDep,
    principal: Assessor,
    classification: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Close a case without captured media (not found, out of remit, not illegal)."""
    policy = load_policy(db, settings)
    try:
        with db.begin() as session:
            service.close_case(session, case_id, actor_of(principal), classification, policy)
    except service.AssessmentError as exc:
        return render(
            request,
            "console/error.html",
            principal,
            400,
            error=str(exc),
            back=f"/console/cases/{case_id}",
        )
    return _see_other(f"/console/cases/{case_id}?msg=case_closed")

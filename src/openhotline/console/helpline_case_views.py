"""HTML routes of helpline cases and live conversations (counsellors; no JavaScript needed).

The inbox lists conversations waiting, the longest first, with their wait and whether the
caller has an open case; a counsellor picks one up, replies and ends it by coding it (the
conversation becomes a contact of the caller's case). Case pages show a case's contacts,
tasks (overdue marked), referrals and the encrypted summary; every view and change is
audited by the services.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.console.pages import render
from openhotline.db import clock_of
from openhotline.helpline import cases, channels, service
from openhotline.helpline.case_models import (
    CaseStatus,
    Conversation,
    HelplineCase,
)
from openhotline.helpline.models import HelplineContact
from openhotline.helpline.webdeps import CipherDep, TaxonomyDep, contact_input_of_form
from openhotline.web.deps import DbDep, services_of
from openhotline.web.errors import validation_details
from openhotline.web.params import DbId

router = APIRouter(prefix="/console/helpline", include_in_schema=False)

CaseWorker = Annotated[Principal, Depends(require(Permission.HELPLINE_CASES))]
Talker = Annotated[Principal, Depends(require(Permission.HELPLINE_CONVERSATIONS))]
Short = Annotated[str, Form(max_length=100)]
Text = Annotated[str, Form(max_length=8000)]


def _message(
    request: Request, principal: Principal, title: str, text: str, status: int
) -> Response:
    return render(request, "helpline/message.html", principal, status, title=title, text=text)


def _wait(since: datetime | None, now: datetime) -> str:
    if since is None:
        return "-"
    seconds = max(0, int((now - since).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h {rest // 60:02d}m" if hours else f"{rest // 60}m {rest % 60:02d}s"


def _duration(conv: Conversation) -> str:
    if conv.ended_at is None:
        return "-"
    return _wait(conv.started_at, conv.ended_at)


# --- live conversations -------------------------------------------------------------------


@router.get("/inbox", response_class=HTMLResponse)
def inbox(request: Request, principal: Talker, db: DbDep) -> Response:
    """Conversations waiting (oldest first, with wait time) and the counsellor's active ones."""
    with db.begin() as session:
        now = clock_of(session).now()
        waiting = channels.inbox(session)
        rows = [
            {
                "c": c,
                "wait": _wait(c.waiting_since, now),
                "earlier": len(channels.earlier_contacts(session, c)),
            }
            for c in waiting
        ]
        mine = channels.active_of(session, principal.username)
        return render(request, "helpline/inbox.html", principal, rows=rows, mine=mine)


def _conversation_page(
    request: Request,
    principal: Principal,
    session: Session,
    conv: Conversation,
    taxonomy: Any,
    status: int = 200,
    errors: list[str] | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    cipher = services_of(request).helpline_cipher
    channels.view(session, conv, actor=principal.actor)
    case = session.get(HelplineCase, conv.case_id) if conv.case_id else None
    earlier = channels.earlier_contacts(session, conv)
    # Earlier (closed) cases of the same caller: this year's key only (see callerkey.py).
    past = [
        c
        for c in cases.cases_of_caller(session, [conv.caller_key] if conv.caller_key else [])
        if case is None or c.id != case.id
    ]
    now = clock_of(session).now()
    v: dict[str, Any] = {"categories": [], "referrals": []}
    v.update(values or {})
    return render(
        request,
        "helpline/conversation.html",
        principal,
        status,
        conv=conv,
        lines=channels.transcript(conv, cipher),
        case=case,
        earlier=earlier,
        past=past,
        tx=taxonomy,
        contact_types=taxonomy.contact_types_for(conv.mode),
        wait=_wait(conv.waiting_since, conv.picked_up_at or now),
        duration=_duration(conv),
        errors=errors or [],
        v=v,
    )


def _conversation(session: Session, conv_id: int) -> Conversation | None:
    conv = session.get(Conversation, conv_id)
    return conv if conv is not None and conv.anonymised_at is None else None


@router.get("/conversations/{conv_id}", response_class=HTMLResponse)
def conversation_view(
    request: Request, principal: Talker, db: DbDep, taxonomy: TaxonomyDep, conv_id: DbId
) -> Response:
    """A conversation's transcript, reply and end forms, and the caller's earlier contacts."""
    with db.begin() as session:
        conv = _conversation(session, conv_id)
        if conv is None:
            return _message(request, principal, "Not found", "No such conversation.", 404)
        return _conversation_page(request, principal, session, conv, taxonomy)


@router.post("/conversations/{conv_id}/pickup", response_class=HTMLResponse)
def conversation_pickup(request: Request, principal: Talker, db: DbDep, conv_id: DbId) -> Response:
    """Take a waiting conversation."""
    with db.begin() as session:
        conv = _conversation(session, conv_id)
        if conv is None:
            return _message(request, principal, "Not found", "No such conversation.", 404)
        try:
            channels.pick_up(session, conv, counsellor=principal.username)
        except service.HelplineConflictError as exc:
            return _message(request, principal, "Not possible", str(exc), 409)
    return RedirectResponse(
        f"/console/helpline/conversations/{conv_id}?msg=picked_up", status_code=303
    )


@router.post("/conversations/{conv_id}/reply", response_class=HTMLResponse)
def conversation_reply(
    request: Request,
    principal: Talker,
    db: DbDep,
    cipher: CipherDep,
    taxonomy: TaxonomyDep,
    conv_id: DbId,
    body: Text = "",
) -> Response:
    """Send a reply (through the provider for SMS and WhatsApp)."""
    provider = services_of(request).message_provider
    with db.begin() as session:
        conv = _conversation(session, conv_id)
        if conv is None:
            return _message(request, principal, "Not found", "No such conversation.", 404)
        try:
            message = channels.reply(
                session,
                conv,
                body=body,
                counsellor=principal.username,
                cipher=cipher,
                provider=provider,
            )
        except service.HelplineConflictError as exc:
            return _conversation_page(request, principal, session, conv, taxonomy, 409, [str(exc)])
        except service.ContactRejectedError as exc:
            errs = [exc.message]
            return _conversation_page(request, principal, session, conv, taxonomy, 400, errs)
        msg = "reply_failed" if message.delivered == "failed" else "reply_sent"
    return RedirectResponse(f"/console/helpline/conversations/{conv_id}?msg={msg}", status_code=303)


@router.post("/conversations/{conv_id}/end", response_class=HTMLResponse)
async def conversation_end(
    request: Request,
    principal: Talker,
    db: DbDep,
    cipher: CipherDep,
    taxonomy: TaxonomyDep,
    conv_id: DbId,
) -> Response:
    """End a conversation by coding it: it becomes a contact of the caller's case."""
    form = await request.form()
    open_case = bool(form.get("open_case"))
    raw = contact_input_of_form(form)
    raw.pop("open_case", None)
    with db.begin() as session:
        conv = _conversation(session, conv_id)
        if conv is None:
            return _message(request, principal, "Not found", "No such conversation.", 404)
        raw["channel"] = conv.channel
        try:
            data = service.validate_contact(raw, conv.mode)
            _contact, case = channels.end(
                session,
                conv,
                data,
                counsellor=principal.username,
                cipher=cipher,
                taxonomy=taxonomy,
                open_case=open_case,
            )
        except ValidationError as exc:
            errs = validation_details(exc)
            return _conversation_page(request, principal, session, conv, taxonomy, 400, errs, raw)
        except service.ContactRejectedError as exc:
            errs = [exc.message, *exc.detail]
            return _conversation_page(request, principal, session, conv, taxonomy, 400, errs, raw)
        except service.HelplineConflictError as exc:
            return _conversation_page(request, principal, session, conv, taxonomy, 409, [str(exc)])
        target = (
            f"/console/helpline/cases/{case.id}"
            if case is not None
            else f"/console/helpline/contacts/{_contact.id}"
        )
    return RedirectResponse(f"{target}?msg=conversation_ended", status_code=303)


# --- cases ----------------------------------------------------------------------------------


def _day(text: str, name: str, problems: list[str]) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.combine(date.fromisoformat(text), time(), UTC)
    except ValueError:
        problems.append(f"{name}: use the form YYYY-MM-DD")
        return None


@router.get("/cases", response_class=HTMLResponse)
def case_search(
    request: Request,
    principal: CaseWorker,
    db: DbDep,
    taxonomy: TaxonomyDep,
    case_id: str = "",
    category: str = "",
    date_from: str = "",
    date_to: str = "",
    counsellor: str = "",
    status: str = "",
) -> Response:
    """Search cases by id, category, date range (open during it), counsellor and status."""
    problems: list[str] = []
    cid: int | None = None
    if case_id.strip():
        if case_id.strip().isdigit() and len(case_id.strip()) < 12:
            cid = int(case_id.strip())
        else:
            problems.append("case: a case number")
    if category and category not in taxonomy.categories:
        problems.append("category: unknown code")
    if status and status not in CaseStatus.__members__.values():
        problems.append("status: open, waiting or closed")
    start = _day(date_from, "from", problems)
    end = _day(date_to, "to", problems)
    filters = {
        "case_id": case_id,
        "category": category,
        "date_from": date_from,
        "date_to": date_to,
        "counsellor": counsellor[:64],
        "status": status,
    }
    with db.begin() as session:
        found: list[HelplineCase] = []
        if not problems:
            found = cases.search_cases(
                session,
                cases.CaseSearch(
                    case_id=cid,
                    category=category or None,
                    date_from=start,
                    date_to=end + timedelta(days=1) if end else None,
                    counsellor=counsellor[:64] or None,
                    status=status or None,
                ),
            )
        now = clock_of(session).now()
        rows = [
            {
                "case": c,
                "contacts": len(c.links),
                "overdue": sum(1 for t in c.tasks if cases.is_overdue(t, now)),
            }
            for c in found
        ]
        return render(
            request,
            "helpline/cases.html",
            principal,
            400 if problems else 200,
            rows=rows,
            f=filters,
            tx=taxonomy,
            statuses=list(CaseStatus),
            errors=problems,
        )


def _case_page(
    request: Request,
    principal: Principal,
    session: Session,
    case: HelplineCase,
    taxonomy: Any,
    status: int = 200,
    errors: list[str] | None = None,
) -> Response:
    cipher = services_of(request).helpline_cipher
    cases.view_case(session, case, actor=principal.actor)
    now = clock_of(session).now()
    contacts = cases.contacts_of(case)
    convs = {c.id: channels.conversation_of_contact(session, c.id) for c in contacts}
    tasks = [
        {"t": t, "title": cases.task_title(t, cipher), "overdue": cases.is_overdue(t, now)}
        for t in case.tasks
    ]
    return render(
        request,
        "helpline/case.html",
        principal,
        status,
        case=case,
        summary=cases.read_summary(case, cipher),
        contacts=contacts,
        convs={cid: (c, _duration(c) if c else "-") for cid, c in convs.items()},
        tasks=tasks,
        tx=taxonomy,
        statuses=list(CaseStatus),
        outcomes=cases.REFERRAL_OUTCOMES,
        default_due=cases.default_due(now).strftime("%Y-%m-%d"),
        errors=errors or [],
    )


def _case(session: Session, case_id: int) -> HelplineCase | None:
    return session.get(HelplineCase, case_id)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_view(
    request: Request, principal: CaseWorker, db: DbDep, taxonomy: TaxonomyDep, case_id: DbId
) -> Response:
    """One case: contacts (with conversation durations), tasks, referrals, summary."""
    with db.begin() as session:
        case = _case(session, case_id)
        if case is None:
            return _message(request, principal, "Not found", "No such case.", 404)
        return _case_page(request, principal, session, case, taxonomy)


def _case_action(
    request: Request,
    principal: Principal,
    db: Any,
    taxonomy: Any,
    case_id: int,
    action: Any,
    msg: str,
) -> Response:
    with db.begin() as session:
        case = _case(session, case_id)
        if case is None:
            return _message(request, principal, "Not found", "No such case.", 404)
        try:
            action(session, case)
        except service.ContactRejectedError as exc:
            errs = [exc.message, *exc.detail]
            return _case_page(request, principal, session, case, taxonomy, 400, errs)
        except service.HelplineConflictError as exc:
            return _case_page(request, principal, session, case, taxonomy, 409, [str(exc)])
    return RedirectResponse(f"/console/helpline/cases/{case_id}?msg={msg}", status_code=303)


@router.post("/cases/{case_id}", response_class=HTMLResponse)
def case_update(
    request: Request,
    principal: CaseWorker,
    db: DbDep,
    cipher: CipherDep,
    taxonomy: TaxonomyDep,
    case_id: DbId,
    status: Short = "",
    counsellor: Short = "",
    summary: Text = "",
) -> Response:
    """Change a case's status, assigned counsellor and summary."""

    def act(session: Session, case: HelplineCase) -> None:
        cases.update_case(
            session,
            case,
            actor=principal.actor,
            cipher=cipher,
            status=status or None,
            counsellor=counsellor.strip(),
            summary=summary.strip(),
        )

    return _case_action(request, principal, db, taxonomy, case_id, act, "case_updated")


@router.post("/cases/{case_id}/tasks", response_class=HTMLResponse)
def case_task_add(
    request: Request,
    principal: CaseWorker,
    db: DbDep,
    cipher: CipherDep,
    taxonomy: TaxonomyDep,
    case_id: DbId,
    title: Text = "",
    due: Short = "",
) -> Response:
    """Add a follow-up task with a due date."""

    def act(session: Session, case: HelplineCase) -> None:
        problems: list[str] = []
        due_at = _day(due, "due", problems)
        if due_at is None:
            raise service.ContactRejectedError("due date: use the form YYYY-MM-DD")
        cases.add_task(
            session, case, title=title, due_at=due_at, actor=principal.actor, cipher=cipher
        )

    return _case_action(request, principal, db, taxonomy, case_id, act, "task_added")


@router.post("/cases/{case_id}/tasks/{task_id}/done", response_class=HTMLResponse)
def case_task_done(
    request: Request,
    principal: CaseWorker,
    db: DbDep,
    taxonomy: TaxonomyDep,
    case_id: DbId,
    task_id: DbId,
) -> Response:
    """Mark a task done."""

    def act(session: Session, case: HelplineCase) -> None:
        cases.complete_task(
            session, cases.get_task(session, case.id, task_id), actor=principal.actor
        )

    return _case_action(request, principal, db, taxonomy, case_id, act, "task_done")


@router.post("/cases/{case_id}/referrals", response_class=HTMLResponse)
def case_referral_add(
    request: Request,
    principal: CaseWorker,
    db: DbDep,
    taxonomy: TaxonomyDep,
    case_id: DbId,
    agency: Short = "",
) -> Response:
    """Record a referral made for the case."""

    def act(session: Session, case: HelplineCase) -> None:
        cases.add_referral(session, case, agency=agency, actor=principal.actor, taxonomy=taxonomy)

    return _case_action(request, principal, db, taxonomy, case_id, act, "referral_added")


@router.post("/cases/{case_id}/referrals/{referral_id}", response_class=HTMLResponse)
def case_referral_outcome(
    request: Request,
    principal: CaseWorker,
    db: DbDep,
    taxonomy: TaxonomyDep,
    case_id: DbId,
    referral_id: DbId,
    outcome: Short = "",
) -> Response:
    """Record a referral's outcome."""

    def act(session: Session, case: HelplineCase) -> None:
        referral = cases.get_referral(session, case.id, referral_id)
        cases.set_referral_outcome(session, referral, outcome=outcome, actor=principal.actor)

    return _case_action(request, principal, db, taxonomy, case_id, act, "referral_updated")


@router.post("/contacts/{contact_id}/case", response_class=HTMLResponse)
def contact_to_case(
    request: Request,
    principal: CaseWorker,
    db: DbDep,
    contact_id: DbId,
    case_id: Short = "",
) -> Response:
    """Add a contact to a case (a case number), or open a new case for it (empty)."""
    with db.begin() as session:
        contact = session.get(HelplineContact, contact_id)
        if contact is None or (
            contact.counsellor != principal.username
            and not principal.can(Permission.HELPLINE_CONTACT_VIEW_ALL)
        ):
            return _message(request, principal, "Not found", "No such contact.", 404)
        try:
            if case_id.strip():
                if not case_id.strip().isdigit() or len(case_id.strip()) > 11:
                    raise service.ContactRejectedError("case: a case number")
                case = _case(session, int(case_id.strip()))
                if case is None:
                    return _message(request, principal, "Not found", "No such case.", 404)
            else:
                case = cases.open_case(
                    session,
                    mode=contact.mode,
                    actor=principal.actor,
                    counsellor=principal.username,
                )
            cases.add_contact(session, case, contact, actor=principal.actor)
        except service.ContactRejectedError as exc:
            return _message(request, principal, "Not added", exc.message, 400)
        except service.HelplineConflictError as exc:
            return _message(request, principal, "Not added", str(exc), 409)
        target = case.id
    return RedirectResponse(f"/console/helpline/cases/{target}?msg=case_linked", status_code=303)

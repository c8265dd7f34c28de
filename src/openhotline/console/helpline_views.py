"""HTML routes of the helpline console (server-rendered, no JavaScript needed)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.console.pages import render
from openhotline.db import clock_of
from openhotline.helpline import resources, service, trends
from openhotline.helpline.charts import bar_chart
from openhotline.helpline.models import Escalation, HelplineContact
from openhotline.helpline.resource_models import HelplineResource
from openhotline.helpline.taxonomy import MODES
from openhotline.helpline.webdeps import (
    CipherDep,
    TaxonomyDep,
    contact_input_of_form,
    form_values,
)
from openhotline.reporting.models import Report
from openhotline.reporting.receipts import format_receipt
from openhotline.reporting.service import IntakeLimits, ReportRejectedError
from openhotline.web.deps import DbDep, SettingsDep
from openhotline.web.errors import validation_details
from openhotline.web.params import DbId

router = APIRouter(prefix="/console/helpline", include_in_schema=False)

Counsellor = Annotated[Principal, Depends(require(Permission.HELPLINE_CONTACT_RECORD))]
HandOff = Annotated[Principal, Depends(require(Permission.HELPLINE_HANDOFF))]
Supervisor = Annotated[Principal, Depends(require(Permission.HELPLINE_ESCALATION_DECIDE))]
TrendViewer = Annotated[Principal, Depends(require(Permission.HELPLINE_TRENDS_VIEW))]

PROMISES = {
    "child": "Child helpline: what you tell us stays confidential. Your name and how to "
    "reach you are optional. We only share anything if a child is in immediate danger, "
    "and only after a supervisor decides.",
    "prevention": "Prevention helpline: we store no name, number, address or any other "
    "detail that identifies you; this form has no place for them. Only coded facts are kept.",
}


def _message(
    request: Request, principal: Principal, title: str, text: str, status: int
) -> Response:
    return render(request, "helpline/message.html", principal, status, title=title, text=text)


def _own_contact(session: Session, principal: Principal, contact_id: int) -> HelplineContact | None:
    contact = session.get(HelplineContact, contact_id)
    if contact is None:
        return None
    if contact.counsellor != principal.username and not principal.can(
        Permission.HELPLINE_CONTACT_VIEW_ALL
    ):
        return None
    return contact


@router.get("/", response_class=HTMLResponse)
def helpline_home(request: Request, principal: Counsellor, db: DbDep) -> Response:
    """The counsellor's start page: record a contact, recent contacts, escalations waiting."""
    mine = None if principal.can(Permission.HELPLINE_CONTACT_VIEW_ALL) else principal.username
    with db.begin() as session:
        contacts = service.list_contacts(session, counsellor=mine, limit=30)
        pending = len(service.list_escalations(session))
        return render(request, "helpline/home.html", principal, contacts=contacts, pending=pending)


def _form(
    request: Request,
    principal: Principal,
    taxonomy: Any,
    mode: str,
    status: int = 200,
    errors: list[str] | None = None,
    values: dict[str, Any] | None = None,
    choices: list[HelplineResource] | None = None,
) -> Response:
    return render(
        request,
        "helpline/contact_form.html",
        principal,
        status,
        mode=mode,
        promise=PROMISES[mode],
        tx=taxonomy,
        contact_types=taxonomy.contact_types_for(mode),
        errors=errors or [],
        v=form_values(values or {}),
        resources=choices or [],
    )


def _choices(db: Any) -> list[HelplineResource]:
    """The directory's resources on offer (the contact form's multi-select)."""
    with db() as session:
        return resources.find_resources(session)


@router.get("/contacts/new", response_class=HTMLResponse)
def contact_form(
    request: Request, principal: Counsellor, db: DbDep, taxonomy: TaxonomyDep, mode: str = "child"
) -> Response:
    """The one-page contact form of a helpline mode."""
    if mode not in MODES:
        return _message(request, principal, "Unknown helpline", "Choose child or prevention.", 404)
    return _form(request, principal, taxonomy, mode, choices=_choices(db))


@router.post("/contacts", response_class=HTMLResponse)
async def contact_submit(
    request: Request,
    principal: Counsellor,
    db: DbDep,
    cipher: CipherDep,
    taxonomy: TaxonomyDep,
) -> Response:
    """Record a contact from the form; show the form again with the problems listed."""
    form = await request.form()
    mode = str(form.get("mode") or "")
    if mode not in MODES:
        return _message(request, principal, "Unknown helpline", "Choose child or prevention.", 400)
    raw = contact_input_of_form(form)
    try:
        data = service.validate_contact(raw, mode)
        with db.begin() as session:
            contact = service.record_contact(
                session,
                data,
                mode=mode,
                counsellor=principal.username,
                cipher=cipher,
                taxonomy=taxonomy,
            )
            contact_id, escalated = contact.id, contact.immediate_risk
    except ValidationError as exc:
        errs = validation_details(exc)
        return _form(request, principal, taxonomy, mode, 400, errs, raw, _choices(db))
    except service.ContactRejectedError as exc:
        errs = [exc.message, *exc.detail]
        return _form(request, principal, taxonomy, mode, 400, errs, raw, _choices(db))
    msg = "contact_escalated" if escalated else "contact_recorded"
    return RedirectResponse(f"/console/helpline/contacts/{contact_id}?msg={msg}", status_code=303)


def _contact_page(
    request: Request,
    principal: Principal,
    session: Session,
    contact: HelplineContact,
    cipher: Any,
    taxonomy: Any,
    status: int = 200,
    errors: list[str] | None = None,
) -> Response:
    details = service.read_details(contact, cipher)
    receipt = None
    if contact.report_id is not None:
        report = session.get(Report, contact.report_id)
        receipt = format_receipt(report.receipt) if report else None
    audit.record(
        session,
        principal.actor,
        AuditAction.HELPLINE_CONTACT_VIEWED,
        f"helpline_contact:{contact.id}",
    )
    return render(
        request,
        "helpline/contact.html",
        principal,
        status,
        c=contact,
        details=details,
        tx=taxonomy,
        receipt=receipt,
        pending=service.pending_escalation(contact),
        errors=errors or [],
        referred=resources.resources_of_contact(session, contact.id),
    )


@router.get("/contacts/{contact_id}", response_class=HTMLResponse)
def contact_view(
    request: Request,
    principal: Counsellor,
    db: DbDep,
    cipher: CipherDep,
    taxonomy: TaxonomyDep,
    contact_id: DbId,
) -> Response:
    """One contact (the counsellor's own, or any for a supervisor); the view is audited."""
    with db.begin() as session:
        contact = _own_contact(session, principal, contact_id)
        if contact is None:
            return _message(request, principal, "Not found", "No such contact.", 404)
        return _contact_page(request, principal, session, contact, cipher, taxonomy)


@router.post("/contacts/{contact_id}/escalate", response_class=HTMLResponse)
def contact_escalate(
    request: Request, principal: Counsellor, db: DbDep, contact_id: DbId
) -> Response:
    """Escalate a contact to a supervisor (safeguarding override)."""
    with db.begin() as session:
        contact = _own_contact(session, principal, contact_id)
        if contact is None:
            return _message(request, principal, "Not found", "No such contact.", 404)
        try:
            service.escalate(session, contact, actor=principal.actor, reason="counsellor")
        except service.HelplineConflictError as exc:
            return _message(request, principal, "Not possible", str(exc), 409)
    return RedirectResponse(
        f"/console/helpline/contacts/{contact_id}?msg=escalated", status_code=303
    )


@router.post("/contacts/{contact_id}/handoff", response_class=HTMLResponse)
def contact_handoff(
    request: Request,
    principal: HandOff,
    db: DbDep,
    settings: SettingsDep,
    cipher: CipherDep,
    taxonomy: TaxonomyDep,
    contact_id: DbId,
    urls: Annotated[str, Form(max_length=100_000)] = "",
    consent: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Warm hand-off: make a hotline report of the URLs the caller wants removed."""
    limits = IntakeLimits(settings.max_urls_per_report, settings.max_url_bytes)
    url_list = [line.strip() for line in urls.splitlines() if line.strip()]
    with db.begin() as session:
        contact = _own_contact(session, principal, contact_id)
        if contact is None:
            return _message(request, principal, "Not found", "No such contact.", 404)
        try:
            service.hand_off(
                session,
                contact,
                urls=url_list,
                consent=bool(consent),
                actor=principal.actor,
                limits=limits,
            )
        except service.HelplineConflictError as exc:
            return _contact_page(
                request, principal, session, contact, cipher, taxonomy, 409, [str(exc)]
            )
        except service.ContactRejectedError as exc:
            errs = [exc.message, *exc.detail]
            return _contact_page(request, principal, session, contact, cipher, taxonomy, 400, errs)
        except ReportRejectedError as exc:
            errs = [exc.message, *exc.detail]
            return _contact_page(request, principal, session, contact, cipher, taxonomy, 400, errs)
    return RedirectResponse(
        f"/console/helpline/contacts/{contact_id}?msg=handed_off", status_code=303
    )


@router.get("/escalations", response_class=HTMLResponse)
def escalation_queue(request: Request, principal: Supervisor, db: DbDep) -> Response:
    """The supervisors' queue of undecided safeguarding escalations."""
    with db.begin() as session:
        pending = service.list_escalations(session, "pending")
        return render(request, "helpline/escalations.html", principal, pending=pending)


@router.post("/escalations/{escalation_id}/decide", response_class=HTMLResponse)
def escalation_decide(
    request: Request,
    principal: Supervisor,
    db: DbDep,
    cipher: CipherDep,
    escalation_id: DbId,
    decision: Annotated[str, Form(max_length=20)] = "",
    disclose_to: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Record the supervisor's decision (audited); nothing leaves without it."""
    with db.begin() as session:
        escalation = session.get(Escalation, escalation_id)
        if escalation is None:
            return _message(request, principal, "Not found", "No such escalation.", 404)
        try:
            service.decide_escalation(
                session,
                escalation,
                decision=decision,
                disclose_to=disclose_to or None,
                note=note,
                actor=principal.actor,
                cipher=cipher,
            )
        except service.ContactRejectedError as exc:
            text = "; ".join([exc.message, *exc.detail])
            return _message(request, principal, "Decision not recorded", text, 400)
        except service.HelplineConflictError as exc:
            return _message(request, principal, "Decision not recorded", str(exc), 409)
    return RedirectResponse("/console/helpline/escalations?msg=escalation_decided", status_code=303)


@router.get("/escalations/{escalation_id}/disclosure", response_class=HTMLResponse)
def escalation_disclosure(
    request: Request,
    principal: Supervisor,
    db: DbDep,
    cipher: CipherDep,
    taxonomy: TaxonomyDep,
    escalation_id: DbId,
) -> Response:
    """The disclosure sheet for the agency named in a 'disclose' decision (audited)."""
    with db.begin() as session:
        escalation = session.get(Escalation, escalation_id)
        if escalation is None:
            return _message(request, principal, "Not found", "No such escalation.", 404)
        try:
            contact, details = service.disclosure_sheet(
                session, escalation, actor=principal.actor, cipher=cipher
            )
        except service.HelplineConflictError as exc:
            return _message(request, principal, "Not disclosed", str(exc), 409)
        return render(
            request,
            "helpline/disclosure.html",
            principal,
            e=escalation,
            c=contact,
            details=details,
            tx=taxonomy,
        )


@router.get("/trends", response_class=HTMLResponse)
def trends_page(
    request: Request,
    principal: TrendViewer,
    db: DbDep,
    settings: SettingsDep,
    taxonomy: TaxonomyDep,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    by: str = "contact_type",
) -> Response:
    """Suppressed trend table and SVG charts for one year and dimension."""
    if by not in trends.DIMENSIONS:
        by = "contact_type"
    with db.begin() as session:
        year = year or clock_of(session).now().year
        tables = trends.build_year(session, year, taxonomy, settings.helpline_suppression_k)
    table = tables[by]
    by_value = bar_chart(
        f"{year}: {by.replace('_', ' ')}", table.column_labels, table.column_totals
    )
    per_month = bar_chart(f"{year}: contacts per month", table.rows, tables["mode"].row_totals)
    return render(
        request,
        "helpline/trends.html",
        principal,
        t=table,
        year=year,
        by=by,
        dimensions=trends.DIMENSIONS,
        chart_by=by_value,
        chart_months=per_month,
    )

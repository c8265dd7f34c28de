"""HTML routes of the workbench: the case list and search, the case page and its actions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.assessment import queue
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.cases.models import CaseStatus
from openhotline.casework import service
from openhotline.console.pages import NO_STORE, load_policy, render
from openhotline.helpline import service as helpline_service
from openhotline.reporting.models import Report
from openhotline.web.deps import DbDep, SettingsDep
from openhotline.web.params import DbId, PageNumber

router = APIRouter(prefix="/console", include_in_schema=False)

CaseViewer = Annotated[Principal, Depends(require(Permission.CASE_VIEW))]
CaseNoter = Annotated[Principal, Depends(require(Permission.CASE_NOTE))]
CaseManager = Annotated[Principal, Depends(require(Permission.CASE_MANAGE))]
Reason = Annotated[str, Form(max_length=service.MAX_REASON)]


def _back(case_id: int, msg: str) -> RedirectResponse:
    return RedirectResponse(f"/console/cases/{case_id}?msg={msg}", status_code=303)


def _filters(request: Request) -> service.CaseFilters:
    return service.parse_filters(dict(request.query_params.items()))


@router.get("/cases", response_class=HTMLResponse)
def case_list(request: Request, db: DbDep, principal: CaseViewer, page: PageNumber = 0) -> Response:
    """Find cases by URL, domain, host, IP, status, country, source and age; page through."""
    filters = _filters(request)
    with db() as session:
        result = service.search_cases(session, filters, page)
    return render(
        request,
        "console/cases.html",
        principal,
        result=result,
        filters=filters,
        query=filters.query_string(),
        statuses=list(CaseStatus),
        urgent=queue.urgent_flag,
    )


@router.get("/cases.csv")
def case_list_csv(request: Request, db: DbDep, principal: CaseViewer) -> Response:
    """The matching cases as CSV (cells neutralised against spreadsheet formulas; audited)."""
    filters = _filters(request)
    with db.begin() as session:
        rows = service.iter_cases(session, filters)
        audit.record(
            session,
            principal.actor,
            AuditAction.CASE_LIST_EXPORT,
            "cases",
            {"filters": filters.query_string(), "rows": len(rows)},
        )
        body = service.cases_csv(rows)
    headers = {"Content-Disposition": 'attachment; filename="cases.csv"', **NO_STORE}
    return Response(body, media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(
    request: Request, case_id: DbId, db: DbDep, settings: SettingsDep, principal: CaseViewer
) -> Response:
    """One case whole: timeline, items and grades, traces, notices, referrals, actions."""
    with db.begin() as session:
        cf = service.case_file(
            session, case_id, show_grades=principal.can(Permission.DISPUTE_RESOLVE)
        )
        audit.record(session, principal.actor, AuditAction.CASE_VIEW, f"case:{case_id}", {})
        origins = _helpline_origins(session, cf.reports)
        return render(
            request,
            "console/case.html",
            principal,
            cf=cf,
            case=cf.case,
            items=cf.items,  # the pipeline's partials (URL decision, upload) test for items
            police=service.police_referrals(cf),
            hosts=service.hosts(session),
            picked=service.case_host(session, case_id),
            urgent=queue.urgent_flag,
            closing=[c for c in load_policy(db, settings).scheme.classes if not c.illegal],
            helpline_origins=origins,
        )


def _helpline_origins(session: Session, reports: list[Report]) -> dict[int, int | None]:
    """Report id → the helpline contact it came from (None if gone), for hand-off reports.

    Only the fact and the contact's id leave the helpline: never notes or caller details.
    """
    out: dict[int, int | None] = {}
    for report in reports:
        if report.source == "helpline":
            contact = helpline_service.contact_of_report(session, report)
            out[report.id] = contact.id if contact is not None else None
    return out


@router.post("/cases/{case_id}/note")
def add_note(case_id: DbId, db: DbDep, principal: CaseNoter, note: Reason = "") -> Response:
    """Add a note to the case's timeline."""
    with db.begin() as session:
        service.add_note(session, case_id, note, actor=principal.actor)
    return _back(case_id, "note_added")


@router.post("/cases/{case_id}/contact")
def override_contact(
    case_id: DbId,
    db: DbDep,
    principal: CaseManager,
    email: Annotated[str, Form(max_length=320)] = "",
    why: Reason = "",
) -> Response:
    """Send the host notice to another abuse contact (audited)."""
    with db.begin() as session:
        service.override_contact(session, case_id, email, actor=principal.actor, why=why)
    return _back(case_id, "contact_set")


@router.post("/cases/{case_id}/police-hold")
def police_hold(case_id: DbId, db: DbDep, principal: CaseManager, why: Reason = "") -> Response:
    """Hold the case's notices until police clear them."""
    with db.begin() as session:
        service.hold_for_police(session, case_id, actor=principal.actor, why=why)
    return _back(case_id, "police_held")


@router.post("/cases/{case_id}/police-clear")
def police_clear(case_id: DbId, db: DbDep, principal: CaseManager) -> Response:
    """Police cleared the case: release its held notices."""
    with db.begin() as session:
        service.clear_for_police(session, case_id, actor=principal.actor)
    return _back(case_id, "police_cleared")


@router.post("/cases/{case_id}/removed")
def mark_removed(case_id: DbId, db: DbDep, principal: CaseManager, why: Reason = "") -> Response:
    """Staff confirmed the content gone at source."""
    with db.begin() as session:
        service.mark_removed(session, case_id, actor=principal.actor, why=why)
    return _back(case_id, "removed")


@router.post("/cases/{case_id}/not-removed")
def mark_not_removed(
    case_id: DbId, db: DbDep, principal: CaseManager, why: Reason = ""
) -> Response:
    """Staff found the content still online: re-send now."""
    with db.begin() as session:
        service.mark_not_removed(session, case_id, actor=principal.actor, why=why)
    return _back(case_id, "not_removed")


@router.post("/notices/{notice_id}/{action}")
def change_notice(notice_id: DbId, action: str, db: DbDep, principal: CaseManager) -> Response:
    """Pause, resume, cancel or re-send one notice."""
    with db.begin() as session:
        notice = service.change_notice(session, notice_id, action, actor=principal.actor)
        case_id = notice.case_id
    return _back(case_id, "notice_changed")


# --- the host directory ----------------------------------------------------------------

HostsManager = Annotated[Principal, Depends(require(Permission.HOSTS_MANAGE))]
Field200 = Annotated[str, Form(max_length=200)]


def _host_form(
    name: str, asn: str, abuse_email: str, channel: str, language: str, portal_url: str, notes: str
) -> service.HostForm:
    return service.HostForm(name, asn, abuse_email, channel, language, portal_url, notes)


@router.get("/hosts", response_class=HTMLResponse)
def hosts_page(request: Request, db: DbDep, principal: CaseViewer) -> Response:
    """The host directory: providers, their contacts and how they want notices."""
    with db() as session:
        hosts = service.hosts(session)
    return render(request, "console/hosts.html", principal, hosts=hosts, channels=service.CHANNELS)


@router.post("/hosts")
def add_host(
    db: DbDep,
    principal: HostsManager,
    name: Field200 = "",
    asn: Annotated[str, Form(max_length=20)] = "",
    abuse_email: Annotated[str, Form(max_length=320)] = "",
    channel: Annotated[str, Form(max_length=20)] = "email",
    language: Annotated[str, Form(max_length=10)] = "en",
    portal_url: Annotated[str, Form(max_length=2000)] = "",
    notes: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    """Add a provider to the directory."""
    form = _host_form(name, asn, abuse_email, channel, language, portal_url, notes)
    with db.begin() as session:
        host = service.save_host(session, form, actor=principal.actor)
        host_id = host.id
    return RedirectResponse(f"/console/hosts/{host_id}?msg=host_saved", status_code=303)


@router.get("/hosts/{host_id}", response_class=HTMLResponse)
def host_page(request: Request, host_id: DbId, db: DbDep, principal: CaseViewer) -> Response:
    """One provider: its contact details, open cases and removal times."""
    with db() as session:
        record = service.host_record(session, host_id)
    return render(request, "console/host.html", principal, record=record, channels=service.CHANNELS)


@router.post("/hosts/{host_id}")
def edit_host(
    host_id: DbId,
    db: DbDep,
    principal: HostsManager,
    name: Field200 = "",
    asn: Annotated[str, Form(max_length=20)] = "",
    abuse_email: Annotated[str, Form(max_length=320)] = "",
    channel: Annotated[str, Form(max_length=20)] = "email",
    language: Annotated[str, Form(max_length=10)] = "en",
    portal_url: Annotated[str, Form(max_length=2000)] = "",
    notes: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    """Change a provider's details."""
    form = _host_form(name, asn, abuse_email, channel, language, portal_url, notes)
    with db.begin() as session:
        service.save_host(session, form, actor=principal.actor, host_id=host_id)
    return RedirectResponse(f"/console/hosts/{host_id}?msg=host_saved", status_code=303)


@router.post("/cases/{case_id}/host")
def pick_host(
    case_id: DbId,
    db: DbDep,
    principal: CaseManager,
    host_id: Annotated[int, Form(ge=1, le=2_147_483_647)] = 0,
) -> Response:
    """Pick the case's provider from the directory; its notice goes to that contact."""
    with db.begin() as session:
        service.pick_host(session, case_id, host_id, actor=principal.actor)
    return _back(case_id, "host_picked")

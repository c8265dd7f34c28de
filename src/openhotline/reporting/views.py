"""HTML routes of reporting: the public report form and status page (no JavaScript)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from openhotline.reporting import service
from openhotline.reporting.receipts import format_receipt
from openhotline.reporting.schemas import SEEN_LABELS, ReportIn
from openhotline.web.deps import CommitterDep, DbDep, SettingsDep
from openhotline.web.errors import validation_details
from openhotline.web.ratelimit import public_rate_limit
from openhotline.web.templating import templates

router = APIRouter(include_in_schema=False)


def _form_page(request: Request, status: int = 200, **context: object) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "report/form.html",
        {"seen_labels": SEEN_LABELS, "errors": [], "values": {}, **context},
        status_code=status,
    )


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    """The public landing page."""
    return templates.TemplateResponse(request, "home.html", {})


@router.get("/report", response_class=HTMLResponse)
def report_form(request: Request) -> HTMLResponse:
    """Show the anonymous report form."""
    return _form_page(request)


@router.post("/report", response_class=HTMLResponse, dependencies=[Depends(public_rate_limit)])
def report_submit(
    request: Request,
    committer: CommitterDep,
    settings: SettingsDep,
    urls: Annotated[str, Form()] = "",
    seen: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    found_where: Annotated[str, Form()] = "",
    child_in_danger: Annotated[str, Form()] = "",
    contact_email: Annotated[str, Form()] = "",
    contact_consent: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Accept the form; show the receipt, or the form again with the problems listed."""
    values = {
        "urls": urls,
        "seen": seen,
        "description": description,
        "found_where": found_where,
        "child_in_danger": bool(child_in_danger),
        "contact_email": contact_email,
        "contact_consent": bool(contact_consent),
    }
    try:
        data = ReportIn(
            urls=[line for line in urls.splitlines() if line.strip()],
            seen=seen or None,
            description=description,
            found_where=found_where or None,
            child_in_danger=bool(child_in_danger),
            contact_email=contact_email or None,
            contact_consent=bool(contact_consent),
        )
    except ValidationError as exc:
        return _form_page(request, 400, errors=validation_details(exc), values=values)
    try:
        prepared = service.prepare_report(
            data, service.IntakeLimits(settings.max_urls_per_report, settings.max_url_bytes)
        )
    except service.ReportRejectedError as exc:
        return _form_page(request, 400, errors=[exc.message, *exc.detail], values=values)
    receipt = committer.run(service.store_reports, (prepared, "public"))
    return templates.TemplateResponse(
        request, "report/thanks.html", {"receipt": format_receipt(receipt)}
    )


@router.get(
    "/report/status", response_class=HTMLResponse, dependencies=[Depends(public_rate_limit)]
)
def report_status_page(request: Request, db: DbDep, receipt: str = "") -> HTMLResponse:
    """Look a receipt code up and show its coarse status."""
    status = None
    not_found = False
    if receipt:
        with db() as session:
            status = service.public_status(session, receipt)
        not_found = status is None
    return templates.TemplateResponse(
        request,
        "report/status.html",
        {"receipt": receipt, "status": status.value if status else None, "not_found": not_found},
        status_code=404 if not_found else 200,
    )

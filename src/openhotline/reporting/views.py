"""HTML routes of reporting: the public report form and status page (no JavaScript)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from openhotline.i18n import N_, current_language, with_language
from openhotline.i18n import gettext as _
from openhotline.reporting import service
from openhotline.reporting.receipts import format_receipt, normalise_receipt
from openhotline.reporting.schemas import SEEN_LABELS, ReportIn
from openhotline.web.deps import CommitterDep, DbDep, SettingsDep
from openhotline.web.errors import validation_details
from openhotline.web.problems import URL_REASONS, url_reason
from openhotline.web.ratelimit import public_rate_limit
from openhotline.web.templating import templates

router = APIRouter(include_in_schema=False)


# The form and the receipt are never cached: Back or a shared computer shows no receipt.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

# The form's own words for the fields the API names (a reporter never sees "urls[0]").
# Marked with N_ and translated when shown, in the reporter's language.
FIELD_LABELS = {
    "urls": N_("Web address"),
    "description": N_("Anything else"),
    "seen": N_("What did you see"),
    "found_where": N_("Where did you find the link"),
    "contact_email": N_("Email address"),
    "contact_consent": N_("Feedback"),
}
_URL_ITEM = re.compile(r"^urls(?:\[(\d+)\]|\.(\d+))\s*:\s*")


def plain_problem(line: str) -> str:
    """One validation problem in the form's wording instead of the API's field names."""
    if "contact_consent" in line:
        return _(
            "Email address: we only keep it with your consent. Tick the box that lets us "
            "send you feedback, or leave the address empty to stay anonymous."
        )
    found = _URL_ITEM.match(line)
    if found:
        number = int(found.group(1) or found.group(2)) + 1
        return _("Web address %(number)s: %(problem)s") % {
            "number": number,
            "problem": url_reason(line[found.end() :]),
        }
    field, sep, rest = line.partition(":")
    if sep and field.strip() in FIELD_LABELS:
        rest = rest.strip()
        if current_language() == "en" and rest not in URL_REASONS:
            rest = rest.replace("contact_email is", "it is")
        else:
            rest = url_reason(rest)
        return _("%(field)s: %(problem)s") % {
            "field": _(FIELD_LABELS[field.strip()]),
            "problem": rest,
        }
    if current_language() == "en":
        return line.replace("contact_email", "email address")
    return url_reason(line)


def _form_page(request: Request, status: int = 200, **context: object) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "report/form.html",
        {"seen_labels": SEEN_LABELS, "errors": [], "values": {}, **context},
        status_code=status,
        headers=NO_STORE,
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
) -> Response:
    """Accept the form and redirect to the receipt, or show the form again with problems."""
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
        problems = [plain_problem(p) for p in validation_details(exc)]
        return _form_page(request, 400, errors=problems, values=values)
    try:
        prepared = service.prepare_report(
            data, service.IntakeLimits(settings.max_urls_per_report, settings.max_url_bytes)
        )
    except service.ReportRejectedError as exc:
        problems = [plain_problem(p) for p in [exc.message, *exc.detail]]
        return _form_page(request, 400, errors=problems, values=values)
    prepared.language = current_language()
    receipt = committer.run(service.store_reports, (prepared, "public"))
    # Redirect after post: a refresh does not send the report twice.
    return RedirectResponse(
        with_language(f"/report/thanks?receipt={format_receipt(receipt)}"),
        status_code=303,
        headers=NO_STORE,
    )


@router.get("/report/thanks", response_class=HTMLResponse)
def report_thanks(request: Request, receipt: str = "") -> Response:
    """The receipt after a report (shows only the code it is given; nothing is looked up)."""
    code = normalise_receipt(receipt[:64])
    if code is None:
        return RedirectResponse(with_language("/report"), status_code=303, headers=NO_STORE)
    return templates.TemplateResponse(
        request, "report/thanks.html", {"receipt": format_receipt(code)}, headers=NO_STORE
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

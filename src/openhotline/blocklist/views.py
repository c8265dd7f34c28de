"""HTML routes: the public appeal form (works without JavaScript)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse

from openhotline.blocklist import service
from openhotline.i18n import N_, current_language
from openhotline.i18n import gettext as _
from openhotline.web.deps import DbDep
from openhotline.web.errors import html_status
from openhotline.web.problems import url_reason
from openhotline.web.ratelimit import public_rate_limit
from openhotline.web.templating import templates

router = APIRouter(include_in_schema=False)

# The service's refusals, in the appellant's language (marked here, translated when shown).
APPEAL_PROBLEMS = {
    "please say why the URL should not be listed": N_(
        "please say why the URL should not be listed"
    ),
    "the reason is limited to 5000 characters": N_("the reason is limited to 5000 characters"),
    "the e-mail address is not valid": N_("the e-mail address is not valid"),
}


def appeal_problem(message: str) -> str:
    """One refusal of the appeal form, in the request's language."""
    if message in APPEAL_PROBLEMS:
        return _(APPEAL_PROBLEMS[message])
    reason = message.removeprefix("invalid URL: ")
    if reason != message:
        return _("invalid URL: %(problem)s") % {"problem": url_reason(reason)}
    return url_reason(message)


@router.get("/appeal", response_class=HTMLResponse)
def appeal_form(request: Request) -> HTMLResponse:
    """Show the form to contest a listed URL."""
    return templates.TemplateResponse(request, "appeal/form.html", {"errors": [], "values": {}})


@router.post("/appeal", response_class=HTMLResponse, dependencies=[Depends(public_rate_limit)])
def appeal_submit(
    request: Request,
    db: DbDep,
    url: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    contact_email: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Record an appeal, or show the form again with the problem."""
    values = {"url": url, "reason": reason, "contact_email": contact_email}
    try:
        with db.begin() as s:
            appeal = service.file_appeal(
                s, url, reason, contact_email.strip() or None, language=current_language()
            )
            reference = appeal.reference
    except service.BlocklistError as exc:
        return templates.TemplateResponse(
            request,
            "appeal/form.html",
            {"errors": [appeal_problem(exc.message)], "values": values},
            status_code=html_status(exc),
        )
    return templates.TemplateResponse(
        request, "appeal/thanks.html", {"reference": reference, "contact": bool(contact_email)}
    )

"""Public pages of Report Remove: upload one image, get a receipt, follow progress.

Child-facing: short, calm, neutral words, every string translatable, no JavaScript, a
"leave quickly" link, nothing cached. No IP address or browser detail is stored.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from openhotline.i18n import gettext as _
from openhotline.reporting.receipts import format_receipt
from openhotline.reportremove import service
from openhotline.web.deps import DbDep, SettingsDep, services_of
from openhotline.web.ratelimit import public_rate_limit
from openhotline.web.templating import templates

router = APIRouter(include_in_schema=False)

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
UPLOAD_STATUS = {"empty": 400, "too_large": 413, "unsupported": 415, "corrupt": 422}


def _problem(code: str, max_mb: int) -> str:
    """The child's words for a refused upload (never the decoder's own message)."""
    if code == "too_large":
        return _("This file is too big. Please choose an image of up to %(mb)s MB.") % {
            "mb": max_mb
        }
    if code == "unsupported":
        return _(
            "We could not open this file as a picture. Please choose a photo "
            "(for example JPEG, PNG, GIF or WebP)."
        )
    if code == "corrupt":
        return _("This picture seems to be damaged. Please try another copy of it.")
    return _("Please choose the picture you want removed.")


def _page(request: Request, name: str, status: int = 200, **context: object) -> HTMLResponse:
    settings = services_of(request).settings
    context.setdefault("support", settings.report_remove_support)
    return templates.TemplateResponse(request, name, context, status_code=status, headers=NO_STORE)


def _max_mb(request: Request) -> int:
    return max(1, services_of(request).settings.report_remove_max_bytes // (1024 * 1024))


@router.get("/report-remove", response_class=HTMLResponse)
def start(request: Request) -> HTMLResponse:
    """What Report Remove is, and the upload form."""
    return _page(request, "reportremove/start.html", errors=[], max_mb=_max_mb(request))


@router.post(
    "/report-remove", response_class=HTMLResponse, dependencies=[Depends(public_rate_limit)]
)
async def upload(request: Request, db: DbDep, settings: SettingsDep) -> HTMLResponse:
    """Take one image: hash it at once, keep it encrypted, show the receipt (only once)."""
    max_mb = _max_mb(request)

    def refused(code: str) -> HTMLResponse:
        return _page(
            request,
            "reportremove/start.html",
            UPLOAD_STATUS.get(code, 400),
            errors=[_problem(code, max_mb)],
            max_mb=max_mb,
        )

    try:
        form = await request.form(max_files=1, max_fields=5)
    except Exception:  # malformed multipart, too many files
        return refused("empty")
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        return refused("empty")
    data = await upload.read(settings.report_remove_max_bytes + 1)
    await form.close()
    limits = service.UploadLimits(
        settings.report_remove_max_bytes, settings.report_remove_max_pixels
    )
    store = services_of(request).removal_store

    def accept() -> service.Receipt:
        with db.begin() as session:
            return service.submit(session, store, data, limits)

    try:
        receipt = await run_in_threadpool(accept)
    except service.ImageRefusedError as exc:
        return refused(exc.code)
    # (Had the transaction failed, the blob it wrote has no key anywhere: the purge sweeps it.)
    return _page(
        request,
        "reportremove/receipt.html",
        reference=format_receipt(receipt.reference),
        secret=format_receipt(receipt.secret),
    )


@router.get("/report-remove/status", response_class=HTMLResponse)
def status_form(request: Request) -> HTMLResponse:
    """Ask for the reference and the secret (sent by POST: the secret stays out of URLs)."""
    return _page(request, "reportremove/status.html", progress=None, not_found=False, reference="")


@router.post(
    "/report-remove/status",
    response_class=HTMLResponse,
    dependencies=[Depends(public_rate_limit)],
)
def status_page(
    request: Request,
    db: DbDep,
    reference: Annotated[str, Form()] = "",
    secret: Annotated[str, Form()] = "",
) -> Response:
    """Show the progress of a request, in plain words, with where to find support."""
    with db() as session:
        found = service.public_status(session, reference, secret)
    return _page(
        request,
        "reportremove/status.html",
        200 if found else 404,
        progress=found,
        not_found=found is None,
        reference=reference[:64],
    )

"""Console pages of Report Remove: the counsellor's and the analyst's steps (no JavaScript).

Counsellors confirm age and identity (they never see the image); analysts verify on a
blurred preview, revealed one at a time against their exposure budget, then share the
hashes or reject. Every page and step is audited.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session, sessionmaker

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.assessment.policy import AssessmentPolicy, policy_in_force
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.config import Settings
from openhotline.i18n import gettext as _
from openhotline.media.preview import PreviewError, placeholder, render_preview
from openhotline.reporting.receipts import format_receipt
from openhotline.reportremove import service
from openhotline.reportremove.models import RemovalStatus
from openhotline.reportremove.store import OneItemStoreError
from openhotline.reportremove.tasks import delete_blobs
from openhotline.web.deps import DbDep, SettingsDep, services_of
from openhotline.web.params import DbId
from openhotline.web.templating import templates

router = APIRouter(prefix="/console/report-remove", include_in_schema=False)

Viewer = Annotated[Principal, Depends(require(Permission.REMOVAL_VIEW))]
Counsellor = Annotated[Principal, Depends(require(Permission.REMOVAL_CONFIRM))]
Verifier = Annotated[Principal, Depends(require(Permission.REMOVAL_VERIFY))]
Revealer = Annotated[Principal, Depends(require(Permission.ITEM_REVEAL))]

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
FLASH = {
    "confirmed": "Age and identity confirmed: the request waits for an analyst.",
    "declined": "Request declined. The image is deleted; the young person sees the reason.",
    "shared": "Verified: the hashes are in the self-generated bank and the image is deleted.",
    "rejected": "Request rejected. The image is deleted; the young person is told.",
    "hidden": "Preview hidden.",
}


def _render(
    request: Request, name: str, principal: Principal, status: int = 200, **context: Any
) -> HTMLResponse:
    context.setdefault("error", "")
    return templates.TemplateResponse(
        request,
        name,
        {
            "principal": principal,
            "csrf_token": principal.csrf_token,
            "P": Permission,
            "flash": _(FLASH[m]) if (m := request.query_params.get("msg", "")) in FLASH else "",
            "fmt": format_receipt,
            **context,
        },
        status_code=status,
        headers=NO_STORE,
    )


def _policy(db: sessionmaker[Session], settings: Settings) -> AssessmentPolicy:
    with db() as session:
        return policy_in_force(settings, session)


def _problem(
    request: Request, principal: Principal, exc: service.RemovalError, back: str
) -> Response:
    status = 403 if isinstance(exc, service.RemovalForbiddenError) else 400
    if isinstance(exc, service.RemovalNotFoundError):
        status = 404
    elif isinstance(exc, service.RemovalConflictError):
        status = 409
    return _render(request, "console/error.html", principal, status, error=exc.message, back=back)


@router.get("/", response_class=HTMLResponse)
def queue(request: Request, principal: Viewer, db: DbDep, reference: str = "") -> Response:
    """Requests waiting for a counsellor, for an analyst, and those that ended."""
    with db() as session:
        if reference.strip():
            row = service.by_reference(session, reference)
            if row is not None:
                return RedirectResponse(f"/console/report-remove/{row.id}", status_code=303)
        return _render(
            request,
            "reportremove/console_queue.html",
            principal,
            404 if reference.strip() else 200,
            waiting_counsellor=service.queue(session, RemovalStatus.RECEIVED),
            waiting_analyst=service.queue(session, RemovalStatus.IDENTITY_CONFIRMED),
            ended=service.recent(session),
            reference=reference[:64],
            not_found=bool(reference.strip()),
        )


@router.get("/{request_id}", response_class=HTMLResponse)
def detail(
    request: Request, request_id: DbId, principal: Viewer, db: DbDep, settings: SettingsDep
) -> Response:
    """One request: the counsellor's form, or the analyst's blurred preview and decision."""
    policy = _policy(db, settings)
    with db.begin() as session:
        try:
            row = service.get(session, request_id)
        except service.RemovalError as exc:
            return _problem(request, principal, exc, "/console/report-remove/")
        audit.record(session, principal.actor, AuditAction.REMOVAL_VIEW, f"removal:{row.id}", {})
        revealed = service.live_reveal(session, principal.user_id, row.id) is not None
        budget = service.budget_of(session, principal.user_id, policy)
        return _render(
            request,
            "reportremove/console_request.html",
            principal,
            r=row,
            revealed=revealed,
            budget=budget,
            methods=service.IDENTITY_METHODS,
            decline_reasons=service.DECLINE_REASONS,
            reject_reasons=service.REJECT_REASONS,
            classes=[c for c in policy.scheme.classes if c.illegal],
        )


def _after(request_id: int, msg: str) -> Response:
    return RedirectResponse(f"/console/report-remove/{request_id}?msg={msg}", status_code=303)


@router.post("/{request_id}/confirm", response_class=HTMLResponse)
def confirm(
    request: Request,
    request_id: DbId,
    principal: Counsellor,
    db: DbDep,
    method: Annotated[str, Form()] = "",
    under_18: Annotated[str, Form()] = "",
    identity: Annotated[str, Form()] = "",
) -> Response:
    """The counsellor records the confirmation (who, when, how; no documents)."""
    try:
        with db.begin() as session:
            service.confirm_identity(
                session, request_id, principal.actor,
                method=method, under_18=bool(under_18), identity_confirmed=bool(identity),
            )  # fmt: skip
    except service.RemovalError as exc:
        return _problem(request, principal, exc, f"/console/report-remove/{request_id}")
    return _after(request_id, "confirmed")


@router.post("/{request_id}/decline", response_class=HTMLResponse)
def decline(
    request: Request,
    request_id: DbId,
    principal: Counsellor,
    db: DbDep,
    reason: Annotated[str, Form()] = "",
) -> Response:
    """The counsellor declines; the image is deleted."""
    try:
        with db.begin() as session:
            blob = service.decline(session, request_id, principal.actor, reason)
    except service.RemovalError as exc:
        return _problem(request, principal, exc, f"/console/report-remove/{request_id}")
    delete_blobs(services_of(request).removal_store, [blob] if blob else [])
    return _after(request_id, "declined")


def _jpeg(data: bytes, status: int = 200) -> Response:
    return Response(data, status_code=status, media_type="image/jpeg", headers=NO_STORE)


@router.get("/{request_id}/preview")
def preview(
    request: Request, request_id: DbId, principal: Verifier, db: DbDep, settings: SettingsDep
) -> Response:
    """The image, greyscale and blurred unless this analyst has a live reveal of it."""
    policy = _policy(db, settings)
    store = services_of(request).removal_store
    with db() as session:
        try:
            data = service.image_for_preview(session, store, request_id)
        except service.RemovalNotFoundError:
            return _jpeg(placeholder("no such request"), 404)
        except OneItemStoreError:
            return _jpeg(placeholder("cannot preview"), 422)
        if data is None:
            return _jpeg(placeholder("image deleted"), 404)
        clear = (
            service.live_reveal(session, principal.user_id, request_id) is not None
            and not service.budget_of(session, principal.user_id, policy).exhausted
        )
    try:
        return _jpeg(render_preview(data, blurred=not clear))
    except PreviewError:
        return _jpeg(placeholder("cannot preview"), 422)


@router.post("/{request_id}/reveal", response_class=HTMLResponse)
def reveal(
    request: Request, request_id: DbId, principal: Revealer, db: DbDep, settings: SettingsDep
) -> Response:
    """Reveal the image (audited; counts toward today's exposure budget)."""
    policy = _policy(db, settings)
    error: service.RemovalError | None = None
    with db.begin() as session:  # a refusal is audited too: commit either way
        try:
            service.reveal(session, request_id, principal.user_id, principal.actor, policy)
        except service.RemovalError as exc:
            error = exc
    if error is not None:
        return _problem(request, principal, error, f"/console/report-remove/{request_id}")
    return RedirectResponse(f"/console/report-remove/{request_id}", status_code=303)


@router.post("/{request_id}/hide")
def hide(request_id: DbId, principal: Revealer, db: DbDep) -> Response:
    """Blur the preview again."""
    with db.begin() as session:
        service.hide(session, principal.user_id, principal.actor, request_id)
    return _after(request_id, "hidden")


@router.post("/{request_id}/verify", response_class=HTMLResponse)
def verify(
    request: Request,
    request_id: DbId,
    principal: Verifier,
    db: DbDep,
    settings: SettingsDep,
    classification: Annotated[str, Form()] = "",
) -> Response:
    """Share the hashes in the self-generated bank; the image is deleted."""
    policy = _policy(db, settings)
    try:
        with db.begin() as session:
            blob = service.verify(session, request_id, principal.actor, policy, classification)
    except service.RemovalError as exc:
        return _problem(request, principal, exc, f"/console/report-remove/{request_id}")
    delete_blobs(services_of(request).removal_store, [blob] if blob else [])
    return _after(request_id, "shared")


@router.post("/{request_id}/reject", response_class=HTMLResponse)
def reject(
    request: Request,
    request_id: DbId,
    principal: Verifier,
    db: DbDep,
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Reject; the image is deleted and the young person is told in neutral words."""
    try:
        with db.begin() as session:
            blob = service.reject(session, request_id, principal.actor, reason)
    except service.RemovalError as exc:
        return _problem(request, principal, exc, f"/console/report-remove/{request_id}")
    delete_blobs(services_of(request).removal_store, [blob] if blob else [])
    return _after(request_id, "rejected")

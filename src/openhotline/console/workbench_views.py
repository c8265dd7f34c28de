"""HTML routes of the analyst's workbench actions on a case: URL decisions, evidence upload.

Kept apart from the case page itself (views.py) so the page can be redesigned freely; the
case page places the small partials (templates/console/_url_decision.html) that link here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.assessment import url_decisions
from openhotline.assessment.schemes import SchemeError
from openhotline.assessment.service import AssessmentError
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.capture import recapture
from openhotline.capture.api import queue_render, read_evidence, upload_evidence
from openhotline.capture.models import ArtifactKind, CaptureArtifact
from openhotline.cases.models import Case
from openhotline.console.pages import NO_STORE, actor_of, load_policy, render
from openhotline.errors import DomainError, NotFoundError
from openhotline.web.deps import DbDep, SettingsDep, services_of
from openhotline.web.errors import ApiError
from openhotline.web.params import DbId

router = APIRouter(prefix="/console", include_in_schema=False)

Assessor = Annotated[Principal, Depends(require(Permission.ITEM_ASSESS))]
Resolver = Annotated[Principal, Depends(require(Permission.DISPUTE_RESOLVE))]
# Rendered HTML and WARC files hold the page's media unblurred: export rights only.
Exporter = Annotated[Principal, Depends(require(Permission.EXPORTS_CREATE))]
DOWNLOAD_TYPES = {ArtifactKind.WARC: "application/warc", ArtifactKind.HTML: "text/plain"}


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/cases/{case_id}/url-decision", response_class=HTMLResponse)
def url_decision_page(
    request: Request, case_id: DbId, db: DbDep, settings: SettingsDep, principal: Assessor
) -> Response:
    """The URL-level decision form (blind: an earlier grade is never shown)."""
    with db() as session:
        case = session.get(Case, case_id)
        if case is None:
            return render(request, "console/error.html", principal, 404, error="No such case.")
        view = url_decisions.view_for(
            session,
            case_id,
            principal.user_id,
            can_resolve=principal.can(Permission.DISPUTE_RESOLVE),
        )
        decisions = url_decisions.decisions_of(session, case_id) if view.may_resolve else []
    return render(
        request,
        "console/url_decision.html",
        principal,
        case=case,
        view=view,
        decisions=decisions,
        scheme=load_policy(db, settings).scheme,
    )


async def _submit(
    request: Request, case_id: int, db: DbDep, settings: SettingsDep, principal: Principal
) -> Response:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    code = values.pop("classification", "")
    resolving = request.url.path.endswith("/resolve")
    policy = load_policy(db, settings)

    def _save() -> str:
        try:
            with db.begin() as session:
                act = url_decisions.resolve if resolving else url_decisions.decide
                outcome = act(session, case_id, actor_of(principal), code, values, policy)
            return outcome.state.value
        except (AssessmentError, SchemeError, NotFoundError) as exc:
            return "!" + str(exc)

    result = await run_in_threadpool(_save)
    if result.startswith("!"):
        return render(
            request,
            "console/error.html",
            principal,
            400,
            error=result[1:],
            back=f"/console/cases/{case_id}/url-decision",
        )
    msg = {"confirming": "url_confirming", "disputed": "disputed", "decided": "url_decided"}
    return _see_other(f"/console/cases/{case_id}?msg={msg[result]}")


@router.post("/cases/{case_id}/url-decision", response_class=HTMLResponse)
async def url_decision_submit(
    request: Request, case_id: DbId, db: DbDep, settings: SettingsDep, principal: Assessor
) -> Response:
    """Save a URL-level grade (four eyes, blind); back to the case."""
    return await _submit(request, case_id, db, settings, principal)


@router.post("/cases/{case_id}/url-decision/resolve", response_class=HTMLResponse)
async def url_decision_resolve(
    request: Request, case_id: DbId, db: DbDep, settings: SettingsDep, principal: Resolver
) -> Response:
    """A supervisor settles a disputed URL-level decision; back to the case."""
    return await _submit(request, case_id, db, settings, principal)


@router.post("/cases/{case_id}/evidence", response_class=HTMLResponse)
async def evidence_upload(request: Request, case_id: DbId, principal: Assessor) -> Response:
    """Upload an evidence file to the case (hashed, matched, encrypted, queued; audited)."""
    try:
        data, name = await read_evidence(request)
        result = await run_in_threadpool(
            upload_evidence,
            request,
            case_id,
            data,
            name,
            actor=principal.actor,
            source=f"upload:{principal.username}",
        )
    except (DomainError, ApiError) as exc:
        return render(
            request,
            "console/error.html",
            principal,
            getattr(exc, "status", 400),
            error=str(exc),
            back=f"/console/cases/{case_id}",
        )
    msg = "evidence_known" if result.known else "evidence_added"
    return _see_other(f"/console/cases/{case_id}?msg={msg}")


@router.post("/cases/{case_id}/recapture", response_class=HTMLResponse)
def recapture_rendered(request: Request, case_id: DbId, principal: Assessor) -> Response:
    """Queue a rendered re-capture of the case; back to the case."""
    try:
        queue_render(request, case_id, principal.actor)
    except DomainError as exc:
        return render(
            request,
            "console/error.html",
            principal,
            503 if exc.kind.value == "unavailable" else 400,
            error=str(exc),
            back=f"/console/cases/{case_id}",
        )
    return _see_other(f"/console/cases/{case_id}?msg=recapture_queued")


@router.get("/cases/{case_id}/captures", response_class=HTMLResponse)
def capture_files(request: Request, case_id: DbId, db: DbDep, principal: Exporter) -> Response:
    """The evidence files (WARC, rendered HTML) of the case's rendered captures."""
    with db() as session:
        case = session.get(Case, case_id)
        if case is None:
            return render(request, "console/error.html", principal, 404, error="No such case.")
        files = recapture.artifacts_of(session, case_id)
    return render(request, "console/capture_files.html", principal, case=case, files=files)


@router.get("/captures/{artifact_id}")
def capture_file(request: Request, artifact_id: DbId, db: DbDep, principal: Exporter) -> Response:
    """Download one evidence file (audited); HTML comes as text, never rendered here."""
    services = services_of(request)
    with db.begin() as session:
        artifact = session.get(CaptureArtifact, artifact_id)
        if artifact is None:
            return render(request, "console/error.html", principal, 404, error="No such file.")
        audit.record(
            session,
            principal.actor,
            AuditAction.CAPTURE_ARTIFACT_DOWNLOAD,
            f"case:{artifact.case_id}",
            {"artifact": artifact.id, "kind": artifact.kind.value, "sha256": artifact.sha256},
        )
        key, kind, case_id = artifact.storage_key, artifact.kind, artifact.case_id
    data = services.media_store.get(key)
    suffix = "warc.gz" if kind == ArtifactKind.WARC else "html.txt"
    return Response(
        data,
        media_type=DOWNLOAD_TYPES[kind],
        headers={
            **NO_STORE,
            "Content-Disposition": f'attachment; filename="case-{case_id}-{artifact_id}.{suffix}"',
            "X-Content-Type-Options": "nosniff",
        },
    )

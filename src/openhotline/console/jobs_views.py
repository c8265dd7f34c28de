"""HTML routes for background jobs: failed and stuck ones, with retry and cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.console.pages import render
from openhotline.jobs import service
from openhotline.web.deps import DbDep
from openhotline.web.params import DbId

router = APIRouter(prefix="/console", include_in_schema=False)

JobsManager = Annotated[Principal, Depends(require(Permission.JOBS_MANAGE))]


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, db: DbDep, principal: JobsManager) -> Response:
    """Failed and stuck jobs with their last error; the worker's last heartbeat."""
    with db() as session:
        jobs = service.troubled(session)
        last = service.last_heartbeat(session)
    return render(request, "console/jobs.html", principal, jobs=jobs, last_heartbeat=last)


@router.post("/jobs/{job_id}/retry")
def retry(job_id: DbId, db: DbDep, principal: JobsManager) -> Response:
    """Run a failed or stuck job again now (audited)."""
    with db.begin() as session:
        job = service.retry(session, job_id)
        audit.record(
            session, principal.actor, AuditAction.JOB_RETRY, f"job:{job_id}", {"kind": job.kind}
        )
    return RedirectResponse("/console/jobs?msg=job_retried", status_code=303)


@router.post("/jobs/{job_id}/cancel")
def cancel(job_id: DbId, db: DbDep, principal: JobsManager) -> Response:
    """Stop a pending or failed job for good (audited)."""
    with db.begin() as session:
        job = service.cancel(session, job_id)
        audit.record(
            session, principal.actor, AuditAction.JOB_CANCEL, f"job:{job_id}", {"kind": job.kind}
        )
    return RedirectResponse("/console/jobs?msg=job_cancelled", status_code=303)

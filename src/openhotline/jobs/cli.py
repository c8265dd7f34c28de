"""`openhotline jobs ...`: failed and stuck background jobs, retry and cancel."""

from __future__ import annotations

import json
from enum import StrEnum

import typer

from openhotline.cli_context import services
from openhotline.cli_support import domain_errors
from openhotline.db import transaction
from openhotline.jobs import service
from openhotline.jobs.models import Job

jobs_app = typer.Typer(help="Background jobs: failed and stuck ones.", no_args_is_help=True)


class Format(StrEnum):
    """Output formats of `jobs list`."""

    TABLE = "table"
    JSON = "json"


def job_json(job: Job) -> dict[str, object]:
    """One job as plain JSON types."""
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status.value,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "run_after": job.run_after.isoformat(),
        "created_at": job.created_at.isoformat(),
        "error": (job.last_error or "").strip().splitlines()[-1:] or None,
        "payload": json.loads(job.payload or "{}"),
    }


@jobs_app.command("list")
def list_jobs(
    ctx: typer.Context,
    stuck_after: float = typer.Option(3600.0, help="Pending this many seconds past due = stuck."),
    fmt: Format = typer.Option(Format.TABLE, "--format", help="table or json."),
) -> None:
    """List failed and stuck jobs with their last error."""
    with transaction(services(ctx).sessionmaker) as session:
        rows = [job_json(j) for j in service.troubled(session, stuck_after_seconds=stuck_after)]
    if fmt is Format.JSON:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no failed or stuck jobs")
        return
    for row in rows:
        error = row["error"][0] if isinstance(row["error"], list) else ""
        typer.echo(f"{row['id']}\t{row['kind']}\t{row['status']}\t{row['attempts']}\t{error}")


@jobs_app.command("retry")
def retry_job(ctx: typer.Context, job_id: int = typer.Argument(..., help="Job id.")) -> None:
    """Run a failed, cancelled or stuck job again now."""
    with domain_errors(), transaction(services(ctx).sessionmaker) as session:
        job = service.retry(session, job_id)
        kind = job.kind
    typer.echo(f"job {job_id} ({kind}) queued again")


@jobs_app.command("cancel")
def cancel_job(ctx: typer.Context, job_id: int = typer.Argument(..., help="Job id.")) -> None:
    """Stop a pending or failed job for good."""
    with domain_errors(), transaction(services(ctx).sessionmaker) as session:
        job = service.cancel(session, job_id)
        kind = job.kind
    typer.echo(f"job {job_id} ({kind}) cancelled")

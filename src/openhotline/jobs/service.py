"""Job table use cases: enqueue inside the caller's transaction, claim, finish, recover.

Delivery is at-least-once: a job is acknowledged (DONE) only after its handler returned,
so handlers must be idempotent.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.db import insert_ignore
from openhotline.errors import ConflictError, NotFoundError
from openhotline.jobs.models import Job, JobStatus, WorkerHeartbeat

MAX_BACKOFF_SECONDS = 6 * 3600.0
# Tells this process apart from an earlier one that had the same pid (containers restart
# as pid 1): its jobs are then known to be orphaned.
_INCARNATION = secrets.token_hex(4)


def worker_identity() -> str:
    """Return host:pid:incarnation of this process (to reclaim jobs of dead local workers)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_INCARNATION}"


def _owner_dead(locked_by: str | None) -> bool:
    """True when the owner ran on this host and that process is gone."""
    parts = (locked_by or "").rsplit(":", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return parts[2] != _INCARNATION
    return not _pid_alive(pid)


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    dedupe_key: str | None = None,
    delay_seconds: float = 0.0,
    max_attempts: int = 5,
) -> None:
    """Add a job in the caller's transaction (skipped if dedupe_key already exists)."""
    now = db.now(session)
    row = {
        "kind": kind,
        "payload": json.dumps(payload or {}, sort_keys=True),
        "dedupe_key": dedupe_key,
        "status": JobStatus.PENDING,
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_after": now + timedelta(seconds=delay_seconds),
        "created_at": now,
    }
    insert_ignore(session, Job, [row])


def to_dispatch(session: Session, *, stale_after: float = 60.0) -> list[tuple[int, datetime]]:
    """Pending jobs never handed to Huey, or due long ago and still pending (their message
    was lost, e.g. a Redis flush); mark them as handed over now."""
    now = db.now(session)
    stale = now - timedelta(seconds=stale_after)
    rows = session.execute(
        select(Job.id, Job.run_after).where(
            Job.status == JobStatus.PENDING,
            or_(Job.pushed_at.is_(None), (Job.pushed_at < stale) & (Job.run_after < stale)),
        )
    ).all()
    ids = [r.id for r in rows]
    if ids:
        session.execute(
            update(Job)
            .where(Job.id.in_(ids))
            .values(pushed_at=now)
            .execution_options(synchronize_session=False)
        )
    return [(r.id, r.run_after) for r in rows]


def claim(session: Session, job_id: int, lease_seconds: float) -> Job | None:
    """Atomically take a due job (or one whose lease expired); None if someone else has it."""
    now = db.now(session)
    result = session.execute(
        update(Job)
        .where(
            Job.id == job_id,
            or_(
                (Job.status == JobStatus.PENDING) & (Job.run_after <= now),
                (Job.status == JobStatus.RUNNING) & (Job.locked_until < now),
            ),
            # An attempt counts when it starts: a job that kills its worker must not be
            # handed out again once it has used its attempts (recover() fails it).
            Job.attempts < Job.max_attempts,
        )
        .values(
            status=JobStatus.RUNNING,
            attempts=Job.attempts + 1,
            locked_by=worker_identity(),
            locked_until=now + timedelta(seconds=lease_seconds),
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        return None
    return session.get(Job, job_id, populate_existing=True)


def undo_dispatch(session: Session, job_ids: list[int]) -> None:
    """Forget that jobs were handed to the queue (the hand-over failed): the next tick retries."""
    if job_ids:
        session.execute(
            update(Job)
            .where(Job.id.in_(job_ids), Job.status == JobStatus.PENDING)
            .values(pushed_at=None)
            .execution_options(synchronize_session=False)
        )


def complete(session: Session, job_id: int) -> None:
    """Acknowledge a job whose handler finished."""
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(status=JobStatus.DONE, finished_at=db.now(session), locked_until=None)
        .execution_options(synchronize_session=False)
    )


def backoff_seconds(base: float, attempts: int) -> float:
    """Exponential back-off: base, 2*base, 4*base ... capped at six hours."""
    return float(min(base * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS))


def fail(session: Session, job_id: int, error: str, base_backoff: float) -> bool:
    """Record a failure; schedule a retry with back-off. Return True when it will retry."""
    job = session.get(Job, job_id, populate_existing=True)
    if job is None:
        return False
    job.last_error = error[-2000:]
    job.locked_until = None
    if job.attempts >= job.max_attempts:
        job.status = JobStatus.FAILED
        job.finished_at = db.now(session)
        return False
    job.status = JobStatus.PENDING
    job.run_after = db.now(session) + timedelta(seconds=backoff_seconds(base_backoff, job.attempts))
    job.pushed_at = None
    return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(session: Session) -> int:
    """Return running jobs of dead workers to the queue: lease expired, or a dead local pid."""
    now = db.now(session)
    count = 0
    used_up = session.execute(
        select(Job).where(Job.status == JobStatus.PENDING, Job.attempts >= Job.max_attempts)
    ).scalars()
    for job in used_up:  # e.g. marked pending by hand after its last attempt
        job.status = JobStatus.FAILED
        job.finished_at = now
        count += 1
    running = session.execute(select(Job).where(Job.status == JobStatus.RUNNING)).scalars()
    for job in running:
        expired = job.locked_until is None or job.locked_until < now
        if (expired or _owner_dead(job.locked_by)) and job.attempts >= job.max_attempts:
            job.status = JobStatus.FAILED
            job.locked_by = None
            job.locked_until = None
            job.finished_at = now
            job.last_error = (
                f"worker died while running the job on attempt {job.attempts} of "
                f"{job.max_attempts}; not retried (look for a crash in the worker log)"
            )
            count += 1
        elif expired or _owner_dead(job.locked_by):
            job.status = JobStatus.PENDING
            job.locked_by = None
            job.locked_until = None
            job.pushed_at = None
            job.run_after = now
            job.last_error = "worker died while running the job; requeued"
            count += 1
    return count


def purge_finished(session: Session, older_than_days: float = 30.0) -> int:
    """Delete DONE jobs finished long ago (FAILED ones stay for inspection)."""
    cutoff = db.now(session) - timedelta(days=older_than_days)
    result = session.execute(
        delete(Job)
        .where(Job.status == JobStatus.DONE, Job.finished_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def counts(session: Session) -> dict[str, int]:
    """Number of jobs per status."""
    out: dict[str, int] = {}
    for status in JobStatus:
        out[status] = len(session.execute(select(Job.id).where(Job.status == status)).all())
    return out


def beat(session: Session, worker: str | None = None) -> None:
    """Record that this worker process is alive (called on every tick)."""
    name = worker or worker_identity()
    now = db.now(session)
    row = session.get(WorkerHeartbeat, name)
    if row is None:
        session.add(WorkerHeartbeat(worker=name, started_at=now, last_seen=now))
    else:
        row.last_seen = now
    # Forget workers silent for a day, so the table stays the size of the fleet.
    session.execute(
        delete(WorkerHeartbeat)
        .where(WorkerHeartbeat.last_seen < now - timedelta(days=1))
        .execution_options(synchronize_session=False)
    )


def last_heartbeat(session: Session) -> datetime | None:
    """When any worker last ticked (None: never)."""
    return session.execute(select(func.max(WorkerHeartbeat.last_seen))).scalar()


def troubled(session: Session, *, stuck_after_seconds: float = 3600.0) -> list[Job]:
    """Failed jobs, and jobs stuck: pending or running long past when they should have run."""
    cutoff = db.now(session) - timedelta(seconds=stuck_after_seconds)
    return list(
        session.execute(
            select(Job)
            .where(
                or_(
                    Job.status == JobStatus.FAILED,
                    (Job.status == JobStatus.PENDING) & (Job.run_after < cutoff),
                    (Job.status == JobStatus.RUNNING) & (Job.locked_until < db.now(session)),
                )
            )
            .order_by(Job.id)
        ).scalars()
    )


def _job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFoundError(f"no job {job_id}")
    return job


def retry(session: Session, job_id: int) -> Job:
    """Run a failed, cancelled or stuck job again now, with a fresh set of attempts."""
    job = _job(session, job_id)
    if job.status in (JobStatus.DONE, JobStatus.RUNNING):
        raise ConflictError(f"job {job_id} is {job.status}: nothing to retry")
    job.status = JobStatus.PENDING
    job.attempts = 0
    job.run_after = db.now(session)
    job.pushed_at = None
    job.finished_at = None
    return job


def cancel(session: Session, job_id: int) -> Job:
    """Stop a pending or failed job for good (kept, with its error, for inspection)."""
    job = _job(session, job_id)
    if job.status not in (JobStatus.PENDING, JobStatus.FAILED):
        raise ConflictError(f"job {job_id} is {job.status}: only pending or failed jobs")
    job.status = JobStatus.CANCELLED
    job.finished_at = db.now(session)
    job.locked_by = None
    job.locked_until = None
    return job

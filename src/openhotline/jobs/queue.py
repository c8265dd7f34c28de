"""Huey wiring: one generic task carries a job id; a periodic tick recovers and schedules.

Huey removes a message when a worker takes it, so a worker killed mid-task would lose it.
The job table closes that gap: a job is DONE only after its handler returned; a RUNNING
job whose worker died (dead local pid, or lease expired) is put back and re-dispatched.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from huey import RedisHuey, SqliteHuey, crontab
from huey.api import Huey

from openhotline import db
from openhotline.config import Settings
from openhotline.db import transaction
from openhotline.jobs import service

if TYPE_CHECKING:
    from openhotline.bootstrap import Services

log = logging.getLogger("openhotline.jobs")

# A job handler gets the process's services and the job's payload; handlers and tick
# hooks are declared by each domain (domain.py) and collected through the services.
Handler = Callable[["Services", dict[str, Any]], None]


def make_huey(s: Settings, name: str | None = None) -> Huey:
    """Build the Huey instance of the configured backend (SQLite file, or Redis)."""
    qname = name or s.jobs_name
    if s.jobs_backend == "redis":
        return RedisHuey(qname, url=s.redis_url, results=False, utc=True)
    if s.jobs_backend == "sqlite":
        s.data_dir.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(qname, filename=str(s.data_dir / "jobs-queue.db"), results=False)
    raise ValueError(f"unknown jobs_backend {s.jobs_backend!r} (use 'sqlite' or 'redis')")


@dataclass
class Queue:
    """A Huey instance with the openhotline tasks registered on it."""

    services: Services
    huey: Huey
    handlers: dict[str, Handler]
    run_job_task: Any
    tick_task: Any

    def dispatch(self) -> int:
        """Hand every undispatched pending job to Huey (delayed ones with their eta)."""
        stale = self.services.settings.jobs_redispatch_seconds
        with transaction(self.services.sessionmaker) as session:
            rows = service.to_dispatch(session, stale_after=stale)
            now = db.now(session)
        for done, (job_id, run_after) in enumerate(rows):
            try:
                if run_after > now:
                    self.run_job_task.schedule(args=(job_id,), eta=run_after)
                else:
                    self.run_job_task(job_id)
            except Exception:
                # The queue backend is down: jobs marked as handed over would otherwise wait
                # for the stale re-dispatch; unmark them so the next tick retries at once.
                with transaction(self.services.sessionmaker) as session:
                    service.undo_dispatch(session, [j for j, _ in rows[done:]])
                raise
        return len(rows)

    def run_job(self, job_id: int) -> str:
        """Claim, run and acknowledge one job; on error record it and schedule a retry."""
        s = self.services.settings
        with transaction(self.services.sessionmaker) as session:
            job = service.claim(session, job_id, s.job_lease_seconds)
            if job is None:
                return "skipped"
            kind, payload = job.kind, json.loads(job.payload)
            # Handlers may act differently on their last try (e.g. give the case to a human).
            payload["_last_attempt"] = job.attempts >= job.max_attempts
        fn = self.handlers.get(kind)
        try:
            if fn is None:
                raise LookupError(f"no handler for job kind {kind!r}")
            fn(self.services, payload)
        except Exception:  # any failure is recorded on the job and retried
            err = traceback.format_exc()
            log.warning("job %s (%s) failed: %s", job_id, kind, err.splitlines()[-1])
            with transaction(self.services.sessionmaker) as session:
                service.fail(session, job_id, err, s.job_backoff_seconds)
            self.dispatch()
            return "failed"
        with transaction(self.services.sessionmaker) as session:
            service.complete(session, job_id)
        self.dispatch()
        return "done"

    def tick(self) -> None:
        """Recover jobs of dead workers, let each domain enqueue due work, dispatch."""
        with transaction(self.services.sessionmaker) as session:
            recovered = service.recover(session)
            service.purge_finished(session, self.services.settings.jobs_keep_days)
        if recovered:
            log.warning("requeued %d job(s) of dead workers", recovered)
        for hook in self.services.tick_hooks():
            hook(self.services)
        self.dispatch()

    def drain(self, *, max_tasks: int = 1000) -> int:
        """Run queued Huey tasks in this process until none is due (tests, `worker --once`)."""
        self.tick()
        done = 0
        while done < max_tasks:
            for task in self.huey.read_schedule(_naive_utc(self.services.clock.now())):
                self.huey.enqueue(task)
            task = self.huey.dequeue()
            if task is None:
                return done
            self.huey.execute(task)
            done += 1
        return done


def _naive_utc(value: datetime) -> datetime:
    # Huey (utc=True) compares naive UTC datetimes.
    return value.replace(tzinfo=None) if value.tzinfo else value


def build_queue(services: Services, name: str | None = None) -> Queue:
    """Create the Huey instance and register the generic job task and the periodic tick."""
    huey = make_huey(services.settings, name)
    holder: dict[str, Queue] = {}

    def run_job(job_id: int) -> str:
        return holder["q"].run_job(job_id)

    def tick() -> None:
        holder["q"].tick()

    run_job_task = huey.task(name="openhotline.run_job")(run_job)
    tick_task = huey.periodic_task(crontab(minute="*"), name="openhotline.tick")(tick)

    queue = Queue(
        services=services,
        huey=huey,
        handlers=services.handlers(),
        run_job_task=run_job_task,
        tick_task=tick_task,
    )
    holder["q"] = queue
    return queue

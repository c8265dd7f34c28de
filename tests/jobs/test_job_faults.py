"""Faults found by the fault-injection probes: crash loops and ten-minute stalls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.clock import FixedClock
from openhotline.config import Settings
from openhotline.db import make_sessionmaker, transaction
from openhotline.jobs import service as jobs
from openhotline.jobs.models import Job, JobStatus

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def timed(session_factory: sessionmaker[Session], clock: FixedClock) -> sessionmaker[Session]:
    engine = session_factory.kw["bind"]
    return make_sessionmaker(engine, clock)


def _only_job(factory: sessionmaker[Session]) -> Job:
    with factory() as s:
        return s.execute(select(Job)).scalar_one()


def _die_while_running(factory: sessionmaker[Session], clock: FixedClock) -> None:
    """Claim the job as a worker on another host that then dies (its lease runs out)."""
    job_id = _only_job(factory).id
    with transaction(factory) as s:
        job = jobs.claim(s, job_id, 60)
        if job is not None:
            job.locked_by = "dead-host:1:x"
    clock.advance(timedelta(seconds=61))
    with transaction(factory) as s:
        jobs.recover(s)


def test_a_job_that_kills_its_worker_stops_at_max_attempts(
    timed: sessionmaker[Session], clock: FixedClock
) -> None:
    """7 attempts of a maximum of 5 after 7 segfaults: attempts count when a job starts."""
    with transaction(timed) as s:
        jobs.enqueue(s, "crashy", {}, max_attempts=5)
    for _ in range(8):
        _die_while_running(timed, clock)
    job = _only_job(timed)
    assert job.attempts == 5
    assert job.status == JobStatus.FAILED
    assert job.last_error and "worker died" in job.last_error


def test_claim_refuses_a_job_that_used_its_attempts(timed: sessionmaker[Session]) -> None:
    with transaction(timed) as s:
        jobs.enqueue(s, "x", {}, max_attempts=1)
    job_id = _only_job(timed).id
    with transaction(timed) as s:
        job = s.get(Job, job_id)
        assert job is not None
        job.attempts = 1  # used, e.g. by a worker that died before recording anything
    with transaction(timed) as s:
        assert jobs.claim(s, job_id, 60) is None


def test_a_dispatch_that_did_not_reach_the_queue_is_retried_within_a_minute(
    timed: sessionmaker[Session], clock: FixedClock
) -> None:
    """Marked as handed to Huey, then Huey never got it (Redis down, worker killed)."""
    with transaction(timed) as s:
        jobs.enqueue(s, "a", {})
    with transaction(timed) as s:
        assert len(jobs.to_dispatch(s, stale_after=60)) == 1
    clock.advance(timedelta(seconds=30))
    with transaction(timed) as s:
        assert jobs.to_dispatch(s, stale_after=60) == []  # just handed over
    clock.advance(timedelta(seconds=31))
    with transaction(timed) as s:
        assert len(jobs.to_dispatch(s, stale_after=60)) == 1  # lost: handed again


def test_a_failed_hand_over_is_undone_at_once(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    from openhotline.bootstrap import build
    from openhotline.jobs.queue import build_queue

    services = build(settings)
    queue = build_queue(services, name="handover")

    class Down:
        """A queue backend that refuses every message, as Redis does during an outage."""

        def __call__(self, *_args: Any, **_kwargs: Any) -> None:
            raise ConnectionError("the queue backend is down")

        schedule = __call__

    queue.run_job_task = Down()
    with transaction(session_factory) as s:
        jobs.enqueue(s, "a", {})
    with pytest.raises(ConnectionError):
        queue.dispatch()
    assert _only_job(session_factory).pushed_at is None  # the next tick hands it over again
    services.close()


def test_redispatch_interval_is_a_setting() -> None:
    assert Settings().jobs_redispatch_seconds == 60

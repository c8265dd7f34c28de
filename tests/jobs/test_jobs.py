"""The job queue: durable rows dispatched through Huey, retries with back-off, and no job
lost when a worker process is killed with SIGKILL mid-job (SQLite and Redis backends)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.bootstrap import build as build_services
from openhotline.cases.models import Case, CaseStatus
from openhotline.config import Settings
from openhotline.db import transaction, utcnow
from openhotline.jobs import service as jobs
from openhotline.jobs.models import Job, JobStatus
from openhotline.jobs.queue import build_queue
from openhotline.media.models import CaseItem
from openhotline.reporting.schemas import ReportIn
from openhotline.reporting.service import submit_report
from tests.pipeline_support import LocalSite, Page, make_image


def redis_up() -> bool:
    """True when a Redis server answers on 127.0.0.1:6379."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


needs_redis = pytest.mark.skipif(not redis_up(), reason="no Redis server on 127.0.0.1:6379")


@pytest.fixture
def site() -> Iterator[LocalSite]:
    s = LocalSite().start()
    yield s
    s.stop()


def _pipeline_settings(settings: Settings, **extra: object) -> Settings:
    return settings.model_copy(
        update={"crawler_allow_networks": ["127.0.0.0/8"], "job_backoff_seconds": 0.2, **extra}
    )


def _report(factory: sessionmaker[Session], url: str) -> int:
    with transaction(factory) as s:
        submit_report(s, ReportIn(urls=[url]))
    with factory() as s:
        return s.execute(select(Case.id)).scalars().all()[-1]


def _job(factory: sessionmaker[Session]) -> Job:
    with factory() as s:
        return s.execute(select(Job)).scalars().one()


def test_backoff_doubles_and_is_capped() -> None:
    assert [jobs.backoff_seconds(30, n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert jobs.backoff_seconds(30, 50) == 6 * 3600


def test_enqueue_is_deduplicated(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as s:
        jobs.enqueue(s, "capture.case", {"case_id": 1}, dedupe_key="capture:1")
        jobs.enqueue(s, "capture.case", {"case_id": 1}, dedupe_key="capture:1")
    with session_factory() as s:
        assert len(s.execute(select(Job)).all()) == 1


def test_claim_is_exclusive(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as s:
        jobs.enqueue(s, "capture.case", {"case_id": 1})
    job_id = _job(session_factory).id
    with transaction(session_factory) as s:
        assert jobs.claim(s, job_id, 60) is not None
    with transaction(session_factory) as s:
        assert jobs.claim(s, job_id, 60) is None  # leased to the first worker


def test_failed_job_retries_with_backoff_then_succeeds(
    settings: Settings, session_factory: sessionmaker[Session], site: LocalSite
) -> None:
    """A transient failure (the site is down) is retried later, then the job completes."""
    site.media("/pic.png", make_image(1))
    url = site.url("/pic.png")
    site.stop()  # connection refused: a transient error
    rt = build_services(_pipeline_settings(settings))
    queue = build_queue(rt, name=f"t{uuid.uuid4().hex[:8]}")
    case_id = _report(session_factory, url)
    queue.drain()
    job = _job(session_factory)
    assert job.status == JobStatus.PENDING
    assert job.attempts == 1
    assert job.run_after > utcnow()
    assert job.last_error and "ConnectError" in job.last_error
    # The site comes back on the same port; after the back-off the retry succeeds.
    site2 = LocalSite(port=site.port)
    site2.media("/pic.png", make_image(1))
    site2.start()
    try:
        deadline = time.monotonic() + 10
        while _job(session_factory).status != JobStatus.DONE and time.monotonic() < deadline:
            time.sleep(0.1)
            queue.drain()
    finally:
        site2.stop()
    job = _job(session_factory)
    assert job.status == JobStatus.DONE
    assert job.attempts == 2
    with session_factory() as s:
        assert s.get(Case, case_id).status == CaseStatus.TRIAGE  # type: ignore[union-attr]
        assert len(s.execute(select(CaseItem)).all()) == 1
    rt.close()


def test_job_without_handler_fails_after_max_attempts(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    rt = build_services(_pipeline_settings(settings, job_backoff_seconds=0.0))
    queue = build_queue(rt, name=f"t{uuid.uuid4().hex[:8]}")
    with transaction(session_factory) as s:
        jobs.enqueue(s, "no.such.kind", {}, max_attempts=3)
    for _ in range(5):
        queue.drain()
    job = _job(session_factory)
    assert job.status == JobStatus.FAILED
    assert job.attempts == 3
    assert job.last_error and "no handler" in job.last_error
    rt.close()


def test_lease_expired_job_is_recovered(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as s:
        jobs.enqueue(s, "capture.case", {"case_id": 1})
    job_id = _job(session_factory).id
    with transaction(session_factory) as s:
        job = jobs.claim(s, job_id, 60)
        assert job is not None
        job.locked_by = "another-host:1"
        job.locked_until = utcnow() - timedelta(seconds=1)
    with transaction(session_factory) as s:
        assert jobs.recover(s) == 1
    assert _job(session_factory).status == JobStatus.PENDING


def _worker_env(settings: Settings, backend: str, queue_name: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "OPENHOTLINE_DATA_DIR": str(settings.data_dir),
            "OPENHOTLINE_DATABASE_URL": settings.resolved_database_url(),
            "OPENHOTLINE_CRAWLER_ALLOW_NETWORKS": json.dumps(["127.0.0.0/8"]),
            "OPENHOTLINE_JOBS_BACKEND": backend,
            "OPENHOTLINE_JOBS_NAME": queue_name,
            "OPENHOTLINE_JOB_BACKOFF_SECONDS": "0.2",
        }
    )
    return env


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    cli = Path(sys.executable).parent / "openhotline"
    return subprocess.Popen(
        [str(cli), "worker", "--workers", "1"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _wait(pred: object, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("redis", marks=needs_redis)])
def test_worker_killed_mid_job_loses_nothing(
    backend: str,
    settings: Settings,
    session_factory: sessionmaker[Session],
    site: LocalSite,
    tmp_path: Path,
) -> None:
    """SIGKILL the worker while it is fetching; a restarted worker completes the job."""
    site.pages["/slow.png"] = Page(make_image(7), content_type="image/png", delay=4.0)
    case_id = _report(session_factory, site.url("/slow.png"))
    queue_name = f"kill{uuid.uuid4().hex[:8]}"
    env = _worker_env(settings, backend, queue_name)
    log = tmp_path / "worker.log"
    worker = _start_worker(env, log)
    try:
        # The job is running once the slow request has reached the site.
        assert _wait(lambda: any(p == "/slow.png" for _, p in site.requests), 30), log.read_text()
        assert _job(session_factory).status == JobStatus.RUNNING
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        time.sleep(0.5)
        job = _job(session_factory)
        assert job.status == JobStatus.RUNNING  # orphaned: Huey already dropped the message
        site.pages["/slow.png"].delay = 0.0
        worker = _start_worker(env, log)
        assert _wait(lambda: _job(session_factory).status == JobStatus.DONE, 30), log.read_text()
    finally:
        worker.kill()
        worker.wait(10)
        if backend == "redis":
            import redis

            client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
            for key in client.scan_iter(f"huey.*{queue_name}*"):
                client.delete(key)
            client.close()
    job = _job(session_factory)
    assert job.attempts == 2
    with session_factory() as s:
        case = s.get(Case, case_id)
        assert case is not None and case.status == CaseStatus.TRIAGE
        assert len(s.execute(select(CaseItem).where(CaseItem.case_id == case_id)).all()) == 1


def test_job_of_earlier_process_with_same_pid_is_recovered(
    session_factory: sessionmaker[Session],
) -> None:
    """Containers restart workers as the same pid: the incarnation tells them apart."""
    with transaction(session_factory) as s:
        jobs.enqueue(s, "capture.case", {"case_id": 1})
    job_id = _job(session_factory).id
    with transaction(session_factory) as s:
        job = jobs.claim(s, job_id, 3600)
        assert job is not None
        host, pid, _ = jobs.worker_identity().rsplit(":", 2)
        job.locked_by = f"{host}:{pid}:0ldpr0c"
    with transaction(session_factory) as s:
        assert jobs.recover(s) == 1


def test_running_job_of_live_worker_is_left_alone(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as s:
        jobs.enqueue(s, "capture.case", {"case_id": 1})
    with transaction(session_factory) as s:
        assert jobs.claim(s, _job(session_factory).id, 3600) is not None
    with transaction(session_factory) as s:
        assert jobs.recover(s) == 0
    assert _job(session_factory).status == JobStatus.RUNNING


def test_finished_jobs_are_purged_after_keep_days(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as s:
        jobs.enqueue(s, "a", {})
        jobs.enqueue(s, "b", {})
    with transaction(session_factory) as s:
        rows = s.execute(select(Job).order_by(Job.id)).scalars().all()
        rows[0].status = JobStatus.DONE
        rows[0].finished_at = utcnow() - timedelta(days=40)
    with transaction(session_factory) as s:
        assert jobs.purge_finished(s, 30) == 1
    with session_factory() as s:
        assert [j.kind for j in s.execute(select(Job)).scalars()] == ["b"]


def test_unknown_backend_is_a_clear_error(settings: Settings) -> None:
    rt = build_services(settings.model_copy(update={"jobs_backend": "rabbit"}))
    with pytest.raises(ValueError, match="unknown jobs_backend 'rabbit'"):
        build_queue(rt)


def test_capture_gives_case_to_triage_after_last_attempt(
    settings: Settings, session_factory: sessionmaker[Session], site: LocalSite
) -> None:
    """A site that stays down: after the last attempt the case goes to an analyst."""
    url = site.url("/down.png")
    site.stop()
    rt = build_services(_pipeline_settings(settings, job_backoff_seconds=0.0, job_max_attempts=2))
    queue = build_queue(rt, name=f"t{uuid.uuid4().hex[:8]}")
    case_id = _report(session_factory, url)
    for _ in range(3):
        queue.drain()
    job = _job(session_factory)
    assert (job.status, job.attempts) == (JobStatus.DONE, 2)
    with session_factory() as s:
        case = s.get(Case, case_id)
        assert case is not None and case.status == CaseStatus.TRIAGE
    rt.close()


def test_lost_messages_are_redispatched_but_future_retries_are_not(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as s:
        jobs.enqueue(s, "a", {})
        jobs.enqueue(s, "b", {}, delay_seconds=3600)
    with transaction(session_factory) as s:
        assert len(jobs.to_dispatch(s)) == 2
    with transaction(session_factory) as s:
        assert jobs.to_dispatch(s) == []  # both handed over just now
    with transaction(session_factory) as s:
        for job in s.execute(select(Job)).scalars():
            job.pushed_at = utcnow() - timedelta(minutes=20)
            if job.kind == "a":
                job.run_after = utcnow() - timedelta(minutes=20)
    with transaction(session_factory) as s:
        assert [job_id for job_id, _ in jobs.to_dispatch(s)] == [1]  # "a" was lost; "b" waits

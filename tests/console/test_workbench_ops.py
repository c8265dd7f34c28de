"""The dashboard, the worker heartbeat, the host directory, jobs and the case commands."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from openhotline.audit.models import AuditAction, AuditEntry
from openhotline.cases.models import Case, CaseStatus
from openhotline.casework import dashboard
from openhotline.casework.models import CaseHost
from openhotline.cli import app as cli_app
from openhotline.clock import FixedClock
from openhotline.config import Settings
from openhotline.db import transaction
from openhotline.jobs import service as jobs
from openhotline.jobs.models import Job, JobStatus, WorkerHeartbeat
from openhotline.takedown.models import Notice, NoticeStatus
from tests.console.test_workbench_cases import traced
from tests.console_fixtures import Items, Staff, login

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _post(client: TestClient, url: str, csrf: str, **data: str) -> str:
    response = client.post(url, data={"csrf_token": csrf, **data}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


def _cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point `openhotline` (run in-process) at the test database and data directory."""
    from openhotline.config import get_settings

    monkeypatch.setenv("OPENHOTLINE_DATABASE_URL", settings.resolved_database_url())
    monkeypatch.setenv("OPENHOTLINE_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()


def _failed_job(factory: sessionmaker[Session], kind: str = "capture.fetch") -> int:
    with transaction(factory) as s:
        jobs.enqueue(s, kind, {"case_id": 1}, dedupe_key=f"{kind}:t")
    with transaction(factory) as s:
        job = s.execute(select(Job).where(Job.kind == kind)).scalar_one()
        job.status = JobStatus.FAILED
        job.attempts = job.max_attempts
        job.last_error = "Traceback...\nTimeoutError: the host did not answer"
        return job.id


@pytest.mark.parametrize("clock", [T0.isoformat()], indirect=True)
def test_heartbeat_banner_appears_after_two_minutes(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    with transaction(session_factory) as s:
        assert dashboard.build(s, queue=False, cases=False, operations=True).worker_missing
        jobs.beat(s, "w1")
    with transaction(session_factory) as s:
        assert not dashboard.build(s, queue=False, cases=False, operations=True).worker_missing
    clock.advance(timedelta(seconds=121))
    with transaction(session_factory) as s:
        board = dashboard.build(s, queue=False, cases=False, operations=True)
        assert board.worker_missing and board.last_heartbeat == T0
        jobs.beat(s, "w1")  # the same worker again: one row, newer time
    with transaction(session_factory) as s:
        assert len(s.execute(select(WorkerHeartbeat)).all()) == 1
        assert not dashboard.build(s, queue=False, cases=False, operations=True).worker_missing


def test_the_worker_tick_records_a_heartbeat(settings: Settings) -> None:
    from openhotline.bootstrap import build
    from openhotline.jobs.queue import build_queue

    services = build(settings)
    try:
        build_queue(services).tick()
        with transaction(services.sessionmaker) as s:
            assert jobs.last_heartbeat(s) is not None
    finally:
        services.close()


def test_dashboard_per_role(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    items: Items,
    session_factory: sessionmaker[Session],
) -> None:
    held = items.case("http://held.test/a")
    traced(session_factory, held, status=CaseStatus.ACTIONED, notice=NoticeStatus.HELD)
    late = items.case("http://late.test/b")
    traced(session_factory, late, status=CaseStatus.ACTIONED, notice=NoticeStatus.QUEUED)
    with transaction(session_factory) as s:
        notice = s.execute(select(Notice).where(Notice.case_id == late)).scalar_one()
        notice.next_due_at = notice.next_due_at - timedelta(hours=3)
    items.item(3, items.case("http://queue.test/c"))
    _failed_job(session_factory)

    analyst = new_client()
    login(analyst, make_user("ana"))
    home = analyst.get("/console/").text
    assert 'id="worker-missing"' in home  # no worker ran in this test
    assert 'id="dash-queue"' in home and 'id="oldest-waiting"' in home
    assert 'id="reports-today">3<' in home
    assert f'href="/console/cases/{held}"' in home  # waiting for police
    assert f'href="/console/cases/{late}"' in home  # notice past due
    assert 'id="dash-jobs"' not in home

    admin = new_client()
    login(admin, make_user("root", "admin"))
    home = admin.get("/console/").text
    assert 'id="failed-jobs">1<' in home
    assert 'id="dash-queue"' not in home and 'id="dash-cases"' not in home

    counsellor = new_client()
    login(counsellor, make_user("cara", "counsellor"))
    home = counsellor.get("/console/").text
    assert 'id="dash-cases"' not in home and "held.test" not in home


def test_host_directory_open_cases_and_removal_times(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    items: Items,
    session_factory: sessionmaker[Session],
) -> None:
    sue = new_client()
    csrf = login(sue, make_user("sue", "supervisor"))
    bad = sue.post(
        "/console/hosts",
        data={"csrf_token": csrf, "name": "", "asn": "ASx", "channel": "portal"},
    )
    assert bad.status_code == 400
    for part in ("name: 1 to 200", "asn: a number", "portal: needed"):
        assert part in bad.text, part
    where = _post(
        sue,
        "/console/hosts",
        csrf,
        name="Example Hosting",
        asn="AS64500",
        abuse_email="abuse@hosting.example",
        channel="email",
        language="nl",
        portal_url="",
        notes="answers within a day",
    )
    host_id = int(where.split("/")[-1].split("?")[0])
    dup = sue.post("/console/hosts", data={"csrf_token": csrf, "name": "Example Hosting"})
    assert dup.status_code == 400 and "already in the directory" in dup.text

    open_case = items.case("http://on-asn.test/a")  # traced to AS64500 by the helper
    traced(session_factory, open_case, status=CaseStatus.ACTIONED, notice=NoticeStatus.QUEUED)
    gone = items.case("http://on-asn.test/b")
    traced(session_factory, gone, status=CaseStatus.ACTIONED)
    with transaction(session_factory) as s:
        case = s.get(Case, gone)
        assert case is not None and case.actioned_at is not None
        case.actioned_at = case.actioned_at - timedelta(hours=5)
    _post(sue, f"/console/cases/{gone}/removed", csrf, why="checked")
    page = sue.get(f"/console/hosts/{host_id}").text
    assert f'data-case="{open_case}"' in page and f'data-case="{gone}"' not in page
    assert "1 case removed; median 5:00:" in page

    # Pick the host on a case with no contact: the notice goes to the host's address.
    other = items.case("http://elsewhere.test/c")
    traced(session_factory, other, abuse=None, asn=None, status=CaseStatus.ACTIONED)
    _post(sue, f"/console/cases/{other}/host", csrf, host_id=str(host_id))
    with transaction(session_factory) as s:
        assert s.get(CaseHost, other) is not None
        notice = s.execute(select(Notice).where(Notice.case_id == other)).scalar_one()
        assert notice.recipient == "abuse@hosting.example"
        actions = set(s.execute(select(AuditEntry.action)).scalars())
        assert AuditAction.HOST_SAVE in actions
    assert f'data-case="{other}"' in sue.get(f"/console/hosts/{host_id}").text
    assert "Example Hosting" in sue.get(f"/console/cases/{other}").text

    analyst = new_client()
    login(analyst, make_user("ana"))
    assert analyst.get("/console/hosts").status_code == 200
    assert 'id="host-form"' not in analyst.get(f"/console/hosts/{host_id}").text


def test_jobs_page_and_cli_retry_and_cancel(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = _failed_job(session_factory, "capture.fetch")
    second = _failed_job(session_factory, "trace.run")
    admin = new_client()
    csrf = login(admin, make_user("root", "admin"))
    page = admin.get("/console/jobs").text
    assert f'data-job="{first}"' in page and "TimeoutError: the host did not answer" in page
    assert _post(admin, f"/console/jobs/{first}/retry", csrf).endswith("msg=job_retried")
    again = admin.post(
        f"/console/jobs/{first}/cancel", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert again.status_code == 303  # a pending job may be cancelled
    with transaction(session_factory) as s:
        job = s.get(Job, first)
        assert job is not None and job.status == JobStatus.CANCELLED
        actions = set(s.execute(select(AuditEntry.action)).scalars())
        assert {AuditAction.JOB_RETRY, AuditAction.JOB_CANCEL} <= actions

    _cli_env(settings, monkeypatch)
    runner = CliRunner()
    listed = runner.invoke(cli_app, ["jobs", "list", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [r["id"] for r in rows if r["status"] == "failed"] == [second]
    assert runner.invoke(cli_app, ["jobs", "retry", str(second)]).exit_code == 0
    with transaction(session_factory) as s:
        job = s.get(Job, second)
        assert job is not None and job.status == JobStatus.PENDING and job.attempts == 0
    missing = runner.invoke(cli_app, ["jobs", "cancel", "999999"])
    assert missing.exit_code == 1 and "no job 999999" in missing.output


def test_case_show_and_list_from_the_command_line(
    items: Items,
    session_factory: sessionmaker[Session],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case_id = items.case("http://cli.test/=cmd")
    items.item(9, case_id)
    traced(session_factory, case_id, status=CaseStatus.ACTIONED, notice=NoticeStatus.QUEUED)
    items.case("http://cli.test/other")
    _cli_env(settings, monkeypatch)
    runner = CliRunner()
    shown = runner.invoke(cli_app, ["case", "show", str(case_id), "--format", "json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert data["status"] == "actioned" and data["trace"][0]["country"] == "NL"
    assert data["items"][0]["review_state"] == "not in review"
    assert data["notices"][0]["recipient"] == "abuse@host.example"
    as_csv = runner.invoke(cli_app, ["case", "list", "--status", "actioned", "--format", "csv"])
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.reader(io.StringIO(as_csv.output)))
    assert len(rows) == 2 and rows[1][0] == str(case_id)
    as_json = runner.invoke(cli_app, ["case", "list", "--format", "json"])
    assert len(json.loads(as_json.output)) == 2
    bad = runner.invoke(cli_app, ["case", "list", "--status", "nope"])
    assert bad.exit_code == 1 and "status: one of" in bad.output
    missing = runner.invoke(cli_app, ["case", "show", "424242"])
    assert missing.exit_code == 1 and "no case 424242" in missing.output

"""NCMEC CyberTipline submissions against a local stub of the Reporting API (127.0.0.1):
full success, a 5xx on upload retried, a permanent fileinfo failure that retracts, a worker
restart mid-flow, bad credentials, bad channel input, and what staff see (CLI, console)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from openhotline.app import create_app
from openhotline.audit.models import AuditAction, AuditEntry
from openhotline.bootstrap import Services
from openhotline.bootstrap import build as build_services
from openhotline.cases.models import CaseEvent, CaseStatus
from openhotline.cli import app as cli_app
from openhotline.config import Settings, get_settings
from openhotline.db import transaction
from openhotline.exports import cybertip
from openhotline.jobs.queue import Queue, build_queue
from openhotline.media.models import CaseItem, Item
from openhotline.partners import service as partners
from openhotline.police import service
from openhotline.police.cybertip_client import HttpCybertipClient
from openhotline.police.models import NcmecState, NcmecSubmission
from openhotline.takedown.models import Referral, ReferralKind, ReferralStatus
from tests.blocklist.helpers import confirmed_case
from tests.console_fixtures import Staff, login, png_bytes
from tests.police.ncmec_stub import StubServer

DEST = "ncmec-cybertipline"
pytestmark = pytest.mark.db


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server = StubServer().start()
    yield server
    server.stop()


@pytest.fixture
def nsettings(settings: Settings, stub: StubServer) -> Settings:
    return settings.model_copy(
        update={
            "ncmec_base_url": stub.base_url,
            "ncmec_username": "esp-user",
            "ncmec_password": "esp-pass",
            "ncmec_timeout_seconds": 10.0,
            "ncmec_max_attempts": 3,
            "cybertip_email": "reports@hotline.example.test",
            "job_backoff_seconds": 0.0,
            "jobs_name": f"ncmec{uuid.uuid4().hex[:8]}",
            "session_cookie_secure": False,
        }
    )


@pytest.fixture
def services(nsettings: Settings) -> Iterator[Services]:
    svc = build_services(nsettings)
    yield svc
    svc.close()


def _referral(svc: Services, *, country: str = "US", files: int = 2) -> tuple[int, int, list[str]]:
    """A police channel delivering to NCMEC, a confirmed US case with stored files, a referral."""
    shas = []
    with transaction(svc.sessionmaker) as s:
        partners.create_org(s, "NCMEC", "police", "US", actor="t")
        service.add_channel(s, "NCMEC", DEST, delivery="ncmec", actor="t")
        case = confirmed_case(s, "http://us-host.example.test/gallery", CaseStatus.ACTIONED)
        for n in range(files):
            data = png_bytes(40 + n, size=64)
            sha = hashlib.sha256(data).hexdigest()
            item = Item(
                sha256=sha,
                md5=hashlib.md5(data).hexdigest(),  # noqa: S324 - a format, not security
                sha1=hashlib.sha1(data).hexdigest(),  # noqa: S324
                size=len(data),
                storage_key=svc.media_store.put(sha, data),
                status="assessed",
                media_type="image/png",
            )
            s.add(item)
            s.flush()
            s.add(
                CaseItem(
                    case_id=case.id,
                    item_id=item.id,
                    media_url=f"http://us-host.example.test/{n}.png",
                )
            )
            shas.append(sha)
        ref = Referral(case_id=case.id, kind=ReferralKind.POLICE, destination=DEST, country=country)
        s.add(ref)
        s.flush()
        return case.id, ref.id, sorted(shas)


def _queue(svc: Services) -> Queue:
    return build_queue(svc, name=svc.settings.jobs_name)


def _sub(factory: sessionmaker[Session]) -> NcmecSubmission:
    with factory() as s:
        sub = s.scalars(select(NcmecSubmission)).one()
        s.expunge(sub)
        return sub


def _ref(factory: sessionmaker[Session], ref_id: int) -> Referral:
    with factory() as s:
        ref = s.get(Referral, ref_id)
        assert ref is not None
        s.expunge(ref)
        return ref


def _timeline(factory: sessionmaker[Session], case_id: int) -> list[str]:
    with factory() as s:
        return [
            e.detail or ""
            for e in s.scalars(
                select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
            )
            if (e.detail or "").startswith("NCMEC")
        ]


def test_full_submission_reaches_ncmec_once(services: Services, stub: StubServer) -> None:
    case_id, ref_id, shas = _referral(services)
    _queue(services).drain()

    (report,) = stub.state.reports.values()
    assert report.finished and not report.retracted
    # The files went up decrypted (the stub saw the original bytes) and each has its details.
    assert sorted(str(f["sha256"]) for f in report.files.values()) == shas
    for file_id, f in report.files.items():
        details = f["details"]
        assert isinstance(details, bytes)
        cybertip.validate(details)
        assert f"<fileId>{file_id}</fileId>".encode() in details
        assert f"<reportId>{report.report_id}</reportId>".encode() in details
    assert b"us-host.example.test/gallery" in report.xml
    assert stub.state.calls == [
        "/submit",
        "/upload",
        "/upload",
        "/fileinfo",
        "/fileinfo",
        "/finish",
    ]

    sub = _sub(services.sessionmaker)
    assert (sub.state, sub.ncmec_report_id, sub.attempts) == (
        NcmecState.FINISHED, report.report_id, 6
    )  # fmt: skip
    ref = _ref(services.sessionmaker, ref_id)
    assert ref.status == ReferralStatus.SENT and ref.sent_at is not None
    assert str(report.report_id) in (ref.detail or "")
    steps = _timeline(services.sessionmaker, case_id)
    assert steps[0].startswith("NCMEC: submission queued (2 file(s)")
    assert f"NCMEC: report {report.report_id} opened" in steps
    assert sum("uploaded" in e for e in steps) == 2 and sum("details" in e for e in steps) == 2
    assert steps[-1].endswith("finished: the CyberTipline has it")
    with services.sessionmaker() as s:
        actions = [a.action for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    # What left the hotline is in the audit log: the documents, each file, the report.
    assert actions.count(AuditAction.EXPORT_NCMEC_FILE) == 2
    assert AuditAction.EXPORT_CYBERTIP in actions and AuditAction.EXPORT_NCMEC_REPORT in actions

    # Running the worker again changes nothing: no second report.
    _queue(services).drain()
    assert len(stub.state.reports) == 1 and stub.state.count("/submit") == 1


def test_5xx_on_upload_is_retried(services: Services, stub: StubServer) -> None:
    case_id, ref_id, _ = _referral(services)
    stub.state.fail_next["/upload"] = 1
    _queue(services).drain()

    (report,) = stub.state.reports.values()
    assert report.finished and len(report.files) == 2
    assert stub.state.count("/upload") == 3 and stub.state.count("/submit") == 1
    assert _sub(services.sessionmaker).state == NcmecState.FINISHED
    assert _ref(services.sessionmaker, ref_id).status == ReferralStatus.SENT
    assert any("HTTP 503; will retry" in e for e in _timeline(services.sessionmaker, case_id))


def test_permanent_fileinfo_failure_retracts_the_report(
    services: Services, stub: StubServer
) -> None:
    case_id, ref_id, _ = _referral(services)
    stub.state.reject.add("/fileinfo")
    _queue(services).drain()

    (report,) = stub.state.reports.values()
    assert report.retracted and not report.finished
    assert stub.state.count("/fileinfo") == 1  # a rejection is not retried
    assert stub.state.count("/finish") == 0
    sub = _sub(services.sessionmaker)
    assert sub.state == NcmecState.RETRACTED and "code 4100" in (sub.last_error or "")
    ref = _ref(services.sessionmaker, ref_id)
    assert ref.status == ReferralStatus.FAILED
    assert "NCMEC submission failed: file details" in (ref.detail or "")
    steps = _timeline(services.sessionmaker, case_id)
    assert any(f"retracting report {report.report_id}" in e for e in steps)
    assert steps[-1] == f"NCMEC: report {report.report_id} retracted"


def test_5xx_until_the_last_try_is_permanent(services: Services, stub: StubServer) -> None:
    _case_id, ref_id, _ = _referral(services)
    stub.state.fail_next["/finish"] = 99
    _queue(services).drain()
    (report,) = stub.state.reports.values()
    assert stub.state.count("/finish") == 3  # ncmec_max_attempts
    assert report.retracted
    assert _ref(services.sessionmaker, ref_id).status == ReferralStatus.FAILED


def test_worker_restart_mid_flow_resumes_without_a_second_report(
    nsettings: Settings, services: Services, stub: StubServer
) -> None:
    _case_id, ref_id, _ = _referral(services, files=3)
    # The first worker opens the report and uploads one file, then stops.
    first = _queue(services)
    for _ in range(20):  # one task at a time (the queue also holds other domains' work)
        if stub.state.count("/upload"):
            break
        first.drain(max_tasks=1)
    assert stub.state.calls == ["/submit", "/upload"]
    sub = _sub(services.sessionmaker)
    assert sub.state == NcmecState.UPLOADING
    assert [bool(f["file_id"]) for f in sub.files] == [True, False, False]
    services.close()

    # A new worker process (new services, new queue on the same job store) resumes.
    again = build_services(nsettings)
    try:
        _queue(again).drain()
    finally:
        again.close()
    (report,) = stub.state.reports.values()
    assert report.finished and len(report.files) == 3
    assert stub.state.count("/submit") == 1 and stub.state.count("/upload") == 3
    assert _ref(services.sessionmaker, ref_id).status == ReferralStatus.SENT


class _CrashAfterSubmit:
    """The HTTP client, except that the worker 'dies' right after NCMEC opened the report."""

    def __init__(self, real: HttpCybertipClient) -> None:
        self.real = real
        self.crashed = False

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)

    def submit(self, report_xml: bytes) -> int:
        report_id = self.real.submit(report_xml)
        if not self.crashed:
            self.crashed = True
            raise KeyboardInterrupt("worker killed")  # not an Exception: nothing is recorded
        return report_id


def test_crash_while_opening_never_finishes_two_reports(
    nsettings: Settings, stub: StubServer
) -> None:
    fast_lease = nsettings.model_copy(update={"job_lease_seconds": 0.0})
    real = HttpCybertipClient(stub.base_url, "esp-user", "esp-pass")
    crashing = _CrashAfterSubmit(real)
    svc = build_services(fast_lease, cybertip_client=crashing)  # type: ignore[arg-type]
    try:
        case_id, ref_id, _ = _referral(svc, files=1)
        _queue(svc).drain()  # Huey logs the "exit signal"; the job row stays RUNNING
        assert crashing.crashed
        assert _sub(svc.sessionmaker).state == NcmecState.OPENING
        # The next tick finds the job's lease expired and runs it again.
        _queue(svc).drain()
    finally:
        svc.close()
    # NCMEC saw two opens, but only the stored report was finished; the first stays
    # unfinished (NCMEC deletes unfinished reports itself) and is never finished by us.
    assert stub.state.count("/submit") == 2
    finished = [r for r in stub.state.reports.values() if r.finished]
    assert len(finished) == 1 and _sub(svc.sessionmaker).ncmec_report_id == finished[0].report_id
    assert any("interrupted" in e for e in _timeline(svc.sessionmaker, case_id))
    assert _ref(svc.sessionmaker, ref_id).status == ReferralStatus.SENT


@pytest.fixture
def cli_env(nsettings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("OPENHOTLINE_DATABASE_URL", nsettings.resolved_database_url())
    monkeypatch.setenv("OPENHOTLINE_DATA_DIR", str(nsettings.data_dir))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_bad_credentials_fail_the_referral_visibly(
    nsettings: Settings,
    stub: StubServer,
    cli_env: CliRunner,
    make_user: Callable[..., Staff],
) -> None:
    wrong = nsettings.model_copy(update={"ncmec_password": "wrong"})
    svc = build_services(wrong)
    try:
        case_id, ref_id, _ = _referral(svc)
        _queue(svc).drain()
    finally:
        svc.close()
    assert stub.state.reports == {} and stub.state.calls == ["/submit"]  # 401 is not retried
    sub = _sub(svc.sessionmaker)
    assert sub.state == NcmecState.FAILED and sub.ncmec_report_id is None
    ref = _ref(svc.sessionmaker, ref_id)
    assert ref.status == ReferralStatus.FAILED
    assert "refused the credentials (HTTP 401)" in (ref.detail or "")
    assert "OPENHOTLINE_NCMEC_PASSWORD" in (ref.detail or "")

    listed = cli_env.invoke(cli_app, ["police", "ncmec"])
    assert listed.exit_code == 0, listed.output
    assert f"referral {ref_id}\tcase {case_id}\tfailed\tno report" in listed.output
    assert "refused the credentials" in listed.output
    queue = cli_env.invoke(cli_app, ["police", "queue"])
    assert "DELIVERY FAILED: NCMEC submission failed" in queue.output

    with TestClient(create_app(wrong)) as client:
        login(client, make_user("sue", "supervisor"))
        page = client.get(f"/console/cases/{case_id}")
        assert page.status_code == 200
        assert f'id="referral-status-{ref_id}">failed' in page.text
        assert "refused the credentials" in page.text

    # Fixed credentials (here: the stub accepts the configured ones) and a resubmit.
    again = cli_env.invoke(cli_app, ["police", "ncmec-resubmit", str(ref_id)])
    assert again.exit_code == 0, again.output
    fixed = build_services(nsettings)
    try:
        _queue(fixed).drain()
    finally:
        fixed.close()
    assert _sub(fixed.sessionmaker).state == NcmecState.FINISHED
    assert len(stub.state.reports) == 1
    twice = cli_env.invoke(cli_app, ["police", "ncmec-resubmit", str(ref_id)])
    assert twice.exit_code != 0 and "not failed" in twice.output


def test_non_us_content_fails_with_a_clear_reason(services: Services, stub: StubServer) -> None:
    _case_id, ref_id, _ = _referral(services, country="DE")
    _queue(services).drain()
    assert stub.state.calls == []
    ref = _ref(services.sessionmaker, ref_id)
    assert ref.status == ReferralStatus.FAILED
    assert "for content hosted in the US" in (ref.detail or "")


def test_bad_channel_delivery_is_refused(cli_env: CliRunner, services: Services) -> None:
    with transaction(services.sessionmaker) as s:
        partners.create_org(s, "NCMEC", "police", "US", actor="t")
    bad = cli_env.invoke(
        cli_app, ["police", "channel", "NCMEC", "--destination", DEST, "--delivery", "fax"]
    )
    assert bad.exit_code != 0 and "delivery 'fax' is not one of package, ncmec" in bad.output
    good = cli_env.invoke(
        cli_app, ["police", "channel", "NCMEC", "--destination", DEST, "--delivery", "ncmec"]
    )
    assert good.exit_code == 0 and "by ncmec" in good.output


def test_config_check_masks_ncmec_credentials(
    cli_env: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENHOTLINE_NCMEC_USERNAME", "esp-user-secret")
    monkeypatch.setenv("OPENHOTLINE_NCMEC_PASSWORD", "hunter2-secret")
    get_settings.cache_clear()
    out = cli_env.invoke(cli_app, ["config", "check"])
    assert "hunter2-secret" not in out.output and "esp-user-secret" not in out.output
    assert "OPENHOTLINE_NCMEC_PASSWORD = (set)" in out.output
    assert "OPENHOTLINE_NCMEC_USERNAME = (set)" in out.output
    assert "OPENHOTLINE_NCMEC_BASE_URL = 'https://exttest.cybertip.org/ispws'" in out.output


def _worker(nsettings: Settings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "OPENHOTLINE_DATABASE_URL": nsettings.resolved_database_url(),
        "OPENHOTLINE_DATA_DIR": str(nsettings.data_dir),
        "OPENHOTLINE_NCMEC_BASE_URL": nsettings.ncmec_base_url,
        "OPENHOTLINE_NCMEC_USERNAME": nsettings.ncmec_username,
        "OPENHOTLINE_NCMEC_PASSWORD": nsettings.ncmec_password,
        "OPENHOTLINE_CYBERTIP_EMAIL": nsettings.cybertip_email,
        "OPENHOTLINE_JOBS_NAME": nsettings.jobs_name,
        "OPENHOTLINE_JOB_BACKOFF_SECONDS": "1",
        "OPENHOTLINE_JOBS_TICK_SECONDS": "1",
    }
    log = open(nsettings.data_dir / "worker.log", "ab")  # noqa: SIM115 - kept by the process
    return subprocess.Popen(
        [sys.executable, "-m", "openhotline", "worker"], env=env, stdout=log, stderr=log
    )


def _wait(what: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not what():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


@pytest.mark.slow
def test_real_worker_killed_mid_upload_is_resumed_by_the_next(
    nsettings: Settings, services: Services, stub: StubServer
) -> None:
    _case_id, ref_id, _ = _referral(services, files=2)
    stub.state.slow["/upload"] = 6.0  # time to kill the worker while a file goes up
    first = _worker(nsettings)
    try:
        _wait(lambda: stub.state.count("/upload") >= 1, 240)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    stub.state.slow.clear()
    assert _sub(services.sessionmaker).state == NcmecState.UPLOADING
    second = _worker(nsettings)
    try:
        _wait(lambda: _sub(services.sessionmaker).state == NcmecState.FINISHED, 240)
    finally:
        second.terminate()
        second.wait(30)
    (report,) = stub.state.reports.values()
    assert report.finished and stub.state.count("/submit") == 1
    # The killed upload may have reached NCMEC: at most one extra copy, in the same report.
    assert 2 <= len(report.files) <= 3
    assert _ref(services.sessionmaker, ref_id).status == ReferralStatus.SENT

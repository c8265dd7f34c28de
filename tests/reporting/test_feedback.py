"""Reporter feedback: one e-mail when the report's cases are done, then the address is gone."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from openhotline.audit.models import AuditEntry
from openhotline.bootstrap import Services
from openhotline.bootstrap import build as build_services
from openhotline.cases.models import Case, CaseStatus
from openhotline.cli import app as cli_app
from openhotline.config import Settings, get_settings
from openhotline.i18n import LANGUAGES
from openhotline.jobs.queue import build_queue
from openhotline.reporting.feedback import feedback_languages
from openhotline.reporting.models import Report, ReportURL
from openhotline.reporting.schemas import ReportIn
from openhotline.reporting.service import submit_report
from openhotline.reporting.tasks import enqueue_feedback, send_feedback
from tests.case_support import walk_to
from tests.console_fixtures import Staff, login
from tests.pipeline_support import MailSink


@pytest.fixture
def mail() -> Iterator[MailSink]:
    sink = MailSink().start()
    yield sink
    sink.stop()


def _services(settings: Settings, mail: MailSink, **extra: object) -> Services:
    return build_services(
        settings.model_copy(update={"smtp_port": mail.port, "job_backoff_seconds": 0.1, **extra})
    )


def _report(services: Services, urls: list[str], email: str | None, consent: bool) -> int:
    data = ReportIn(urls=urls, contact_email=email, contact_consent=consent)
    with services.sessionmaker.begin() as s:
        receipt = submit_report(s, data)
        return s.execute(select(Report.id).where(Report.receipt == receipt)).scalar_one()


def _move_cases(
    services: Services, report_id: int, status: CaseStatus, n: int = 99, start: int = 0
) -> None:
    with services.sessionmaker.begin() as s:
        cases = s.execute(
            select(Case)
            .join(ReportURL, ReportURL.case_id == Case.id)
            .where(ReportURL.report_id == report_id)
            .order_by(Case.id)
        ).scalars()
        for case in list(cases)[start:n]:
            walk_to(s, case, status)


def test_one_email_when_done_then_the_address_is_erased(settings: Settings, mail: MailSink) -> None:
    services = _services(settings, mail, reporter_feedback_language="de")
    try:
        done = _report(services, ["http://a.example.test/1"], "r1@example.test", True)
        two = _report(
            services,
            ["http://b.example.test/1", "http://b.example.test/2"],
            "r2@example.test",
            True,
        )
        closed = _report(services, ["http://c.example.test/1"], "r3@example.test", True)
        no_consent = _report(services, ["http://d.example.test/1"], None, False)
        _move_cases(services, done, CaseStatus.ACTIONED)
        _move_cases(services, two, CaseStatus.ACTIONED, n=1)  # one URL of two still open
        _move_cases(services, closed, CaseStatus.CLOSED)
        _move_cases(services, no_consent, CaseStatus.ACTIONED)
        queue = build_queue(services, name=f"fb{uuid.uuid4().hex[:8]}")
        enqueue_feedback(services)
        queue.drain()
        got = {m[0][0]: m[1] for m in mail.messages}
        assert sorted(got) == ["r1@example.test", "r3@example.test"]
        assert "Maßnahmen" in got["r1@example.test"].get_content()
        assert "abgeschlossen" in got["r3@example.test"].get_content()
        for msg in got.values():  # neutral: no URL, no content detail
            assert "example.test/1" not in msg.get_content()
            assert msg["Subject"].startswith("Ihre Meldung")
        with services.sessionmaker() as s:
            rows = {r.id: r for r in s.execute(select(Report)).scalars()}
            sent = s.execute(
                select(AuditEntry).where(AuditEntry.action == "reporter.feedback.sent")
            ).all()
        assert rows[done].contact_email is None and rows[done].feedback_sent_at is not None
        assert rows[closed].contact_email is None
        assert rows[two].contact_email == "r2@example.test" and rows[two].feedback_sent_at is None
        assert rows[no_consent].contact_email is None  # anonymous: nothing to send
        assert len(sent) == 2
        # Exactly one e-mail: a later tick and a repeated job send nothing more.
        enqueue_feedback(services)
        queue.drain()
        send_feedback(services, {"report_id": done})
        assert len(mail.messages) == 2
        # The last URL of the two-URL report closes: now that reporter hears once.
        _move_cases(services, two, CaseStatus.CLOSED, start=1)
        enqueue_feedback(services)
        queue.drain()
        assert [m[0][0] for m in mail.messages][2:] == ["r2@example.test"]
        assert "Maßnahmen" in mail.messages[2][1].get_content()  # one URL was actioned
    finally:
        services.close()


def test_templates_in_every_notice_language() -> None:
    assert feedback_languages() == sorted(LANGUAGES)


def test_supervisor_erases_an_address_found_by_itself(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    settings: Settings,
    mail: MailSink,
) -> None:
    services = _services(settings, mail)
    try:
        ids = [
            _report(services, [f"http://e.example.test/{i}"], addr, True)
            for i, addr in enumerate(["Ask@Example.test", "ask@example.test", "keep@example.test"])
        ]
        analyst = new_client()
        a_csrf = login(analyst, make_user("ann", "analyst"))
        r = analyst.post(
            "/api/v1/reporters/erase-contact",
            json={"email": "ask@example.test"},
            headers={"X-CSRF-Token": a_csrf},
        )
        assert r.status_code == 403
        sup = new_client()
        csrf = login(sup, make_user("sue", "supervisor"))
        r = sup.post(
            "/api/v1/reporters/erase-contact",
            json={"email": "nope"},
            headers={"X-CSRF-Token": csrf},
        )
        assert r.status_code in (400, 422) and "e-mail" in r.text
        r = sup.post(
            "/api/v1/reporters/erase-contact",
            json={"email": "ASK@example.test"},
            headers={"X-CSRF-Token": csrf},
        )
        assert r.status_code == 200 and r.json() == {"erased": 2}
        with services.sessionmaker() as s:
            emails = [s.get(Report, i).contact_email for i in ids]  # type: ignore[union-attr]
            audit = s.execute(
                select(AuditEntry).where(AuditEntry.action == "reporter.contact.erased")
            ).scalar_one()
        assert emails == [None, None, "keep@example.test"]
        assert audit.actor == "user:sue" and "ask@" not in audit.details.lower()
        # The same on the command line.
        env = {"OPENHOTLINE_DATABASE_URL": settings.resolved_database_url()}
        out = CliRunner().invoke(
            cli_app, ["reporters", "erase-contact", "keep@example.test", "--by", "sue"], env=env
        )
        assert out.exit_code == 0, out.output
        assert "1 report" in out.output
        bad = CliRunner().invoke(
            cli_app, ["reporters", "erase-contact", "x", "--by", "sue"], env=env
        )
        assert bad.exit_code == 1 and "e-mail" in bad.output
    finally:
        services.close()


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """The CLI reads settings once per process (cached): each test starts from its own env."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()

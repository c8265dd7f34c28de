"""Retention purge: erases exactly what policy says, leaves held cases, audits every run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from openhotline.audit.models import AuditEntry
from openhotline.cases.models import Case
from openhotline.cli import app as cli_app
from openhotline.clock import Clock, FixedClock
from openhotline.config import RetentionSettings, Settings, get_settings
from openhotline.errors import NotFoundError
from openhotline.reporting.models import Report, ReportURL
from openhotline.reporting.schemas import ReportIn
from openhotline.reporting.service import submit_report
from openhotline.retention.service import purge, set_legal_hold
from openhotline.trace.models import HostingTrace
from openhotline.trace.service import TraceResult, store_trace

pytestmark = pytest.mark.parametrize("clock", ["2026-01-01T00:00:00+00:00"], indirect=True)
POLICY = RetentionSettings(
    retention_reporter_email_days=30,
    retention_report_text_days=100,
    retention_trace_days=100,
    retention_referral_payload_days=0,  # kept
    retention_media_days=0,
    retention_notice_days=0,
    retention_session_days=0,
)


def _report(s: Session, host: str, text: str) -> tuple[int, int]:
    receipt = submit_report(
        s,
        ReportIn(
            urls=[f"http://{host}/x"],
            description=text,
            contact_email=f"r@{host}",
            contact_consent=True,
        ),
    )
    report_id, case_id = s.execute(
        select(Report.id, ReportURL.case_id)
        .join(ReportURL, ReportURL.report_id == Report.id)
        .where(Report.receipt == receipt)
    ).one()
    store_trace(
        s, case_id, TraceResult(host=host, ip="192.0.2.7", country="NL", abuse_email=f"a@{host}")
    )
    return report_id, case_id


def test_purge_by_age_honours_legal_hold_and_dry_run(
    session_factory: sessionmaker[Session], clock: Clock
) -> None:
    assert isinstance(clock, FixedClock)
    with session_factory.begin() as s:
        old, _ = _report(s, "old.test", "seen on a forum")
        held, held_case = _report(s, "held.test", "kept for the police")
        set_legal_hold(s, held_case, True, actor="user:sue", reason="police request")
    clock.advance(timedelta(days=60))
    with session_factory.begin() as s:
        mid, _ = _report(s, "mid.test", "newer text")
    clock.advance(timedelta(days=50))  # old: 110 days, mid: 50 days
    with session_factory.begin() as s:
        dry = purge(s, POLICY, dry_run=True, actor="test")
    assert dry == {"reporter_email": 2, "report_text": 1, "trace": 1}
    with session_factory() as s:
        assert s.get(Report, old).contact_email == "r@old.test"  # type: ignore[union-attr]
    with session_factory.begin() as s:
        done = purge(s, POLICY, dry_run=False, actor="test")
    assert done == dry
    with session_factory() as s:
        reports = {r.id: r for r in s.execute(select(Report)).scalars()}
        traces = {t.host: t for t in s.execute(select(HostingTrace)).scalars()}
        audits = list(
            s.execute(select(AuditEntry).where(AuditEntry.action == "retention.purge")).scalars()
        )
        hold = s.execute(
            select(AuditEntry).where(AuditEntry.action == "retention.hold")
        ).scalar_one()
    assert reports[old].contact_email is None and reports[old].description == ""
    assert reports[mid].contact_email is None and reports[mid].description == "newer text"
    assert reports[held].contact_email == "r@held.test"
    assert reports[held].description == "kept for the police"
    assert traces["old.test"].ip is None and traces["old.test"].abuse_email is None
    assert traces["old.test"].country == "NL"  # statistics keep the country
    assert traces["mid.test"].ip == "192.0.2.7" and traces["held.test"].ip == "192.0.2.7"
    assert [json.loads(a.details)["dry_run"] for a in audits] == [True, False]
    assert "police request" in hold.details and hold.actor == "user:sue"
    with session_factory.begin() as s:
        assert purge(s, POLICY, dry_run=False, actor="test") == {
            "reporter_email": 0,
            "report_text": 0,
            "trace": 0,
        }
        with pytest.raises(NotFoundError):
            set_legal_hold(s, 999, True, actor="x", reason="y")
        case = s.get(Case, held_case)
        assert case is not None and case.legal_hold


def test_cli_dry_run_hold_and_purge(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as s:
        _report(s, "cli.test", "text")
    env = {
        "OPENHOTLINE_DATABASE_URL": settings.resolved_database_url(),
        "OPENHOTLINE_RETENTION_REPORTER_EMAIL_DAYS": "1",
    }
    runner = CliRunner()
    out = runner.invoke(cli_app, ["retention", "purge", "--dry-run"], env=env)
    # The report was filed under the fixed clock (2026-01-01); the CLI runs on real time.
    assert out.exit_code == 0 and "reporter_email: would erase 1" in out.output
    out = runner.invoke(
        cli_app, ["retention", "hold", "1", "--reason", "court order", "--by", "sue"], env=env
    )
    assert out.exit_code == 0 and "legal hold set" in out.output
    out = runner.invoke(
        cli_app, ["retention", "hold", "99", "--reason", "x", "--by", "sue"], env=env
    )
    assert out.exit_code == 1 and "no case 99" in out.output
    out = runner.invoke(cli_app, ["retention", "purge"], env=env)
    assert out.exit_code == 0 and "reporter_email: erased 0" in out.output  # case 1 is held


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """The CLI reads settings once per process (cached): each test starts from its own env."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()

"""`openhotline takedown` commands on a real database."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from openhotline.cases.models import Case, CaseStatus
from openhotline.cases.service import move
from openhotline.cli import app
from openhotline.config import Settings, get_settings
from openhotline.db import transaction, utcnow
from openhotline.reporting.schemas import ReportIn
from openhotline.reporting.service import submit_report
from openhotline.takedown.models import Notice, NoticeStatus, Referral, ReferralKind


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("OPENHOTLINE_DATABASE_URL", settings.resolved_database_url())
    monkeypatch.setenv("OPENHOTLINE_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def _held_case(factory: sessionmaker[Session]) -> int:
    with transaction(factory) as s:
        submit_report(s, ReportIn(urls=["http://host-a.test/x"]))
    with transaction(factory) as s:
        case = s.query(Case).one()
        move(s, case, CaseStatus.ASSESSED, actor="analyst:test")
        s.add(
            Notice(
                case_id=case.id, recipient="abuse@host-a.test", host=case.host,
                status=NoticeStatus.HELD, next_due_at=utcnow(),
            )
        )  # fmt: skip
        s.add(Referral(case_id=case.id, kind=ReferralKind.POLICE, destination="police"))
        return case.id


def test_police_clear_releases_held_notice(
    cli_env: CliRunner, session_factory: sessionmaker[Session]
) -> None:
    case_id = _held_case(session_factory)
    result = cli_env.invoke(app, ["police", "clear", str(case_id), "--officer", "pc1"])
    assert result.exit_code == 0, result.output
    with session_factory() as s:
        assert s.query(Notice).one().status == NoticeStatus.QUEUED
        ref = s.query(Referral).one()
        assert ref.cleared_at is not None and (ref.decision, ref.decided_by) == (
            "cleared",
            "police:pc1",
        )
    again = cli_env.invoke(app, ["police", "clear", str(case_id), "--officer", "pc1"])
    assert again.exit_code == 1 and "no notice held" in again.output


def test_police_clear_unknown_case(cli_env: CliRunner) -> None:
    result = cli_env.invoke(app, ["police", "clear", "999", "--officer", "pc1"])
    assert result.exit_code == 1 and "no case 999" in result.output


def test_blocklist_and_stats(cli_env: CliRunner, session_factory: sessionmaker[Session]) -> None:
    _held_case(session_factory)
    result = cli_env.invoke(app, ["takedown", "blocklist"])
    assert result.exit_code == 0 and result.output.splitlines() == ["http://host-a.test/x"]
    stats = cli_env.invoke(app, ["takedown", "stats"])
    assert stats.exit_code == 0
    assert json.loads(stats.output)["cases"] == 1

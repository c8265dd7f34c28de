"""Anonymisation after the retention period: counts survive, details do not."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.audit import service as audit
from openhotline.audit.models import AuditEntry
from openhotline.bootstrap import build as build_services
from openhotline.config import Settings
from openhotline.db import transaction
from openhotline.helpline import service, trends
from openhotline.helpline.models import HelplineContact
from openhotline.helpline.tasks import anonymise_expired, run_anonymise
from openhotline.jobs.models import Job
from openhotline.jobs.queue import build_queue
from openhotline.reporting.models import Report
from tests.helpline.helpers import (
    TAXONOMY,
    child_input,
    cipher,
    prevention_input,
    record,
    seed_year,
)

NOW = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)


def test_old_contacts_lose_details_and_keep_counts(session_factory: sessionmaker[Session]) -> None:
    old_at = datetime(2025, 3, 17, 14, 33, 12, tzinfo=UTC)
    with transaction(session_factory) as s:
        seed_year(s, 2025, 60)
        old = record(s, child_input(caller_name="Test Name"), at=old_at)
        handed = record(s, child_input(), at=old_at)
        service.hand_off(s, handed, urls=["https://example.test/r"], consent=True, actor="u")
        decided = record(s, child_input(immediate_risk=True), at=old_at)
        esc = service.pending_escalation(decided)
        assert esc is not None
        service.decide_escalation(
            s,
            esc,
            decision="disclose",
            disclose_to="police",
            note="synthetic",
            actor="user:s",
            cipher=cipher(),
        )
        waiting = record(s, prevention_input(immediate_risk=True), "prevention", at=old_at)
        recent = record(s, child_input(), at=NOW - timedelta(days=10))
        ids = (old.id, handed.id, decided.id, waiting.id, recent.id)
    with transaction(session_factory) as s:
        before = {by: t.as_dict() for by, t in trends.build_year(s, 2025, TAXONOMY, 5, NOW).items()}
        result = anonymise_expired(s, retention_days=365, now=NOW)
    assert result.anonymised == 60 + 3 and result.skipped_pending == 1
    with transaction(session_factory) as s:
        after = {by: t.as_dict() for by, t in trends.build_year(s, 2025, TAXONOMY, 5, NOW).items()}
        assert after == before  # counts survive
        c_old, c_handed, c_decided, c_waiting, c_recent = (s.get(HelplineContact, i) for i in ids)
        for c in (c_old, c_handed, c_decided):
            assert c is not None and c.anonymised_at is not None
            assert c.notes_enc is None and c.identity_enc is None and c.counsellor is None
            assert c.contact_at == datetime(2025, 3, 1, tzinfo=UTC) and c.period == "2025-03"
            assert service.read_details(c, cipher()) == service.ContactDetails()
        assert c_handed is not None and c_handed.report_id is None and c_handed.handed_off
        report = s.execute(select(Report)).scalar_one()  # the hotline report stays ...
        assert service.contact_of_report(s, report) is None  # ... but no longer leads back
        assert c_decided is not None
        e = c_decided.escalations[0]
        assert (e.raised_by, e.decided_by, e.decision_note_enc) == (None, None, None)
        assert e.decided_at is not None and (e.decided_at.day, e.decided_at.hour) == (1, 0)
        assert e.raised_at is not None and (e.raised_at.day, e.raised_at.minute) == (1, 0)
        assert e.status == "disclose" and e.disclose_to == "police"
        # A pending safeguarding decision holds its contact back; recent ones are untouched.
        assert c_waiting is not None and c_waiting.anonymised_at is None
        assert c_recent is not None and c_recent.anonymised_at is None
        assert service.read_details(c_recent, cipher()).notes == "synthetic note 0001"
        entries = [
            e for e in s.execute(select(AuditEntry)).scalars() if e.action.endswith("anonymised")
        ]
        assert audit.details_of(entries[-1])["anonymised"] == 63
        assert audit.verify(s).ok
    # Running again changes nothing (already anonymised rows are skipped).
    again = run_anonymise(session_factory, retention_days=365, now=NOW)
    assert again.anonymised == 0


def test_retention_period_is_configurable(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as s:
        record(s, child_input(), at=NOW - timedelta(days=40))
        record(s, child_input(), at=NOW - timedelta(days=20))
    assert run_anonymise(session_factory, retention_days=30, now=NOW).anonymised == 1
    assert run_anonymise(session_factory, retention_days=10, now=NOW).anonymised == 1


def test_cli_runs_the_job(
    db_url: str, tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    with transaction(session_factory) as s:
        record(s, child_input(), at=datetime(2020, 1, 5, tzinfo=UTC))
    env = {
        **os.environ,
        "OPENHOTLINE_DATABASE_URL": db_url,
        "OPENHOTLINE_DATA_DIR": str(tmp_path / "var"),
    }
    out = subprocess.run(
        [sys.executable, "-m", "openhotline", "helpline", "anonymise", "--retention-days", "30"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "anonymised 1 contacts" in out.stdout
    with transaction(session_factory) as s:
        assert all(c.anonymised_at for c in s.execute(select(HelplineContact)).scalars())
    bad = subprocess.run(
        [sys.executable, "-m", "openhotline", "helpline", "anonymise", "--retention-days", "-3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode != 0 and "retention-days" in bad.stderr


def test_cli_demo_then_anonymise(db_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "OPENHOTLINE_DATABASE_URL": db_url, "OPENHOTLINE_DATA_DIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "openhotline", "helpline"]
    out = subprocess.run(
        [*cmd, "demo", "--year", "2024", "--count", "40"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0 and "recorded 40" in out.stdout, out.stderr
    out = subprocess.run(
        [*cmd, "anonymise"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0 and "anonymised 40 contacts" in out.stdout, out.stderr
    bad = subprocess.run(
        [*cmd, "demo", "--year", "1800"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode != 0


def test_job_queue_runs_the_daily_anonymisation(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    queue = build_queue(build_services(settings), name=f"t{uuid.uuid4().hex[:8]}")
    with transaction(session_factory) as s:
        record(s, child_input())
    queue.drain()  # nothing due: no job at all
    with transaction(session_factory) as s:
        assert s.execute(select(Job)).first() is None
        record(s, child_input(), at=datetime(2020, 1, 5, tzinfo=UTC))
    queue.drain()
    with transaction(session_factory) as s:
        record(s, child_input(), at=datetime(2020, 2, 5, tzinfo=UTC))
    queue.drain()  # due again the same day: the day's job already ran, no second one
    with transaction(session_factory) as s:
        kinds = [j.kind for j in s.execute(select(Job)).scalars()]
        assert kinds == ["helpline.anonymise"]
        by_month = {
            c.period: c.anonymised_at is not None
            for c in s.execute(select(HelplineContact)).scalars()
        }
        assert by_month["2020-01"] and not by_month["2020-02"]
        assert sum(by_month.values()) == 1

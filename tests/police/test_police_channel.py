"""The police channel: a police partner's queue, package, acknowledge, hold, clear; the
auto-release rule on a fake clock; the console for the police role; the CLI."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from openhotline.app import create_app
from openhotline.audit.models import AuditAction, AuditEntry
from openhotline.bootstrap import build as build_services
from openhotline.cases.models import Case, CaseStatus
from openhotline.cases.service import move
from openhotline.cli import app as cli_app
from openhotline.clock import FixedClock
from openhotline.config import Settings, get_settings
from openhotline.db import make_sessionmaker, transaction
from openhotline.jobs.models import Job
from openhotline.partners import service as partners
from openhotline.police import service
from openhotline.police.tasks import auto_release_job, enqueue_auto_release
from openhotline.reporting.schemas import ReportIn
from openhotline.reporting.service import submit_report
from openhotline.takedown.models import Notice, NoticeStatus, Referral, ReferralKind
from tests.console_fixtures import Staff, login

T0 = datetime.fromisoformat("2026-11-30T08:00:00+00:00")


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("OPENHOTLINE_DATABASE_URL", settings.resolved_database_url())
    monkeypatch.setenv("OPENHOTLINE_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def _police(s: Session, name: str, destination: str, **rule: int | None) -> str:
    org = partners.create_org(s, name, "police", "GB", actor="t")
    _key, token = partners.create_key(s, org, ["police.referrals"], actor="t")
    service.add_channel(s, name, destination, actor="t", **rule)  # type: ignore[arg-type]
    return token


def _referred_case(
    s: Session, url: str, destination: str = "national-police", held: bool = True
) -> tuple[int, int]:
    submit_report(s, ReportIn(urls=[url]))
    case = s.scalars(select(Case).order_by(Case.id.desc())).first()
    assert case is not None
    move(s, case, CaseStatus.ASSESSED, actor="analyst:test")
    s.add(
        Notice(
            case_id=case.id, recipient="abuse@host-a.test", host=case.host,
            status=NoticeStatus.HELD if held else NoticeStatus.QUEUED, next_due_at=T0,
        )
    )  # fmt: skip
    ref = Referral(
        case_id=case.id, kind=ReferralKind.POLICE, destination=destination, created_at=T0
    )
    s.add(ref)
    s.flush()
    return case.id, ref.id


def test_police_partner_works_its_queue_through_the_api(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    with transaction(session_factory) as s:
        token = _police(s, "National Police", "national-police")
        other = _police(s, "Other Police", "other-police")
        lister = partners.create_org(s, "A platform", "platform", "GB", actor="t")
        _k, no_scope = partners.create_key(s, lister, ["hashes.read"], actor="t")
        case_id, ref_id = _referred_case(s, "http://host-a.test/x")
    with TestClient(create_app(settings)) as c:
        auth = {"Authorization": f"Bearer {token}"}
        (row,) = c.get("/api/v1/police/referrals", headers=auth).json()
        assert (row["id"], row["case_id"], row["state"]) == (ref_id, case_id, "waiting")
        assert row["acknowledge_overdue"] and row["auto_release_at"] is None
        # Another police partner sees nothing of it; a key without the scope is refused.
        theirs = {"Authorization": f"Bearer {other}"}
        assert c.get("/api/v1/police/referrals", headers=theirs).json() == []
        assert c.get(f"/api/v1/police/referrals/{ref_id}", headers=theirs).status_code == 404
        assert c.post(f"/api/v1/police/referrals/{ref_id}/clear", headers=theirs).status_code == 404
        noscope = {"Authorization": f"Bearer {no_scope}"}
        assert c.get("/api/v1/police/referrals", headers=noscope).status_code == 403
        assert c.get("/api/v1/police/referrals").status_code == 401

        package = c.get(f"/api/v1/police/referrals/{ref_id}/package", headers=auth)
        assert package.status_code == 200
        names = zipfile.ZipFile(io.BytesIO(package.content)).namelist()
        assert "case.json" in names and any(n.endswith(".sig") for n in names)

        ack = c.post(f"/api/v1/police/referrals/{ref_id}/acknowledge", headers=auth).json()
        assert ack["state"] == "acknowledged" and not ack["acknowledge_overdue"]

        bad = c.post(f"/api/v1/police/referrals/{ref_id}/hold", headers=auth, json={"reason": ""})
        assert bad.status_code == 422
        held = c.post(
            f"/api/v1/police/referrals/{ref_id}/hold",
            headers=auth,
            json={"reason": "investigation running"},
        ).json()
        assert held["referral"]["state"] == "held"
        with session_factory() as s:
            case = s.get(Case, case_id)
            assert case is not None and case.legal_hold
            assert s.scalars(select(Notice)).one().status == NoticeStatus.HELD

        cleared = c.post(f"/api/v1/police/referrals/{ref_id}/clear", headers=auth).json()
        assert (cleared["referral"]["state"], cleared["notices"]) == ("cleared", 1)
        assert c.get("/api/v1/police/referrals", headers=auth).json() == []
        assert len(c.get("/api/v1/police/referrals?all=true", headers=auth).json()) == 1
        # A clearance cannot be turned into a hold afterwards: the notice has gone.
        late = c.post(
            f"/api/v1/police/referrals/{ref_id}/hold", headers=auth, json={"reason": "late"}
        )
        assert late.status_code == 409
    with session_factory() as s:
        assert s.scalars(select(Notice)).one().status == NoticeStatus.QUEUED
        ref = s.get(Referral, ref_id)
        assert ref is not None and ref.status == "sent"
        assert ref.decision == "cleared" and (ref.decided_by or "").startswith("partner:")
        actions = set(s.scalars(select(AuditEntry.action)))
        assert {
            AuditAction.POLICE_ACKNOWLEDGE,
            AuditAction.TAKEDOWN_POLICE_HELD,
            AuditAction.TAKEDOWN_POLICE_CLEARED,
            AuditAction.EXPORT_POLICE,
        } <= actions


@pytest.mark.parametrize("clock", [T0.isoformat()], indirect=True)
def test_auto_release_after_the_channel_s_hours_on_a_fake_clock(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    with transaction(session_factory) as s:
        _police(s, "National Police", "national-police", auto_release_hours=12)
        _police(s, "Patient Police", "patient-police")  # never releases
        _case_a, released_ref = _referred_case(s, "http://host-a.test/a")
        _case_b, kept_ref = _referred_case(s, "http://host-a.test/b", "patient-police")

    def tick(at: datetime) -> None:
        # The worker's tick queues the check (a channel has a rule); the job applies it.
        rt = build_services(settings, clock=FixedClock(at))
        enqueue_auto_release(rt)
        with session_factory() as s:
            assert s.scalars(select(Job.kind).where(Job.kind == "police.auto_release")).first()
        auto_release_job(rt, {})
        rt.close()

    tick(T0 + timedelta(hours=11, minutes=59))
    with session_factory() as s:
        assert {n.status for n in s.scalars(select(Notice))} == {NoticeStatus.HELD}
    tick(T0 + timedelta(hours=12, minutes=1))
    with session_factory() as s:
        a = s.get(Referral, released_ref)
        b = s.get(Referral, kept_ref)
        assert a is not None and (a.decision, a.decided_by) == (
            "auto_released",
            "system:police-auto-release",
        )
        assert b is not None and b.decision == ""
        statuses = {n.case_id: n.status for n in s.scalars(select(Notice))}
        assert statuses == {a.case_id: NoticeStatus.QUEUED, b.case_id: NoticeStatus.HELD}
        # The SLA clocks on a fake clock: past 24 h unacknowledged, not yet 72 h undecided.
        later = make_sessionmaker(s.get_bind(), FixedClock(T0 + timedelta(hours=25)))  # type: ignore[arg-type]
    with later() as s2:
        (entry,) = service.queue(s2)
        assert entry.referral.id == kept_ref and entry.ack_overdue and not entry.decide_overdue


def test_police_role_in_the_console_and_others_refused(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as s:
        _police(s, "National Police", "national-police", auto_release_hours=48)
        case_id, ref_id = _referred_case(s, "http://host-a.test/c", held=False)
    officer = new_client()
    csrf = login(officer, make_user("pc", "police"))
    page = officer.get("/console/police")
    assert page.status_code == 200 and f'data-referral="{ref_id}"' in page.text
    assert f'href="/console/cases/{case_id}"' not in page.text  # no case access for police
    assert officer.get(f"/console/cases/{case_id}").status_code == 403
    no_reason = officer.post(f"/console/police/{ref_id}/hold", data={"csrf_token": csrf})
    assert no_reason.status_code == 422 and "reason" in no_reason.text
    held = officer.post(
        f"/console/police/{ref_id}/hold",
        data={"csrf_token": csrf, "reason": "suspect identified"},
        follow_redirects=False,
    )
    assert held.status_code == 303 and held.headers["location"].endswith("police_referral_held")
    with session_factory() as s:
        # Notices waiting to go are held with it.
        assert s.scalars(select(Notice)).one().status == NoticeStatus.HELD
    sup = new_client()
    sup_csrf = login(sup, make_user("sue", "supervisor"))
    assert "suspect identified" in sup.get("/console/police").text
    assert (
        sup.post(f"/console/police/{ref_id}/clear", data={"csrf_token": sup_csrf}).status_code
        == 403
    )
    analyst = new_client()
    login(analyst, make_user("ana"))
    assert analyst.get("/console/police").status_code == 403
    cleared = officer.post(
        f"/console/police/{ref_id}/clear", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert cleared.status_code == 303
    with session_factory() as s:
        assert s.scalars(select(Notice)).one().status == NoticeStatus.QUEUED


def test_cli_channel_and_queue(cli_env: CliRunner, session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as s:
        partners.create_org(s, "National Police", "police", "GB", actor="t")
        partners.create_org(s, "A host", "hosting_provider", "GB", actor="t")
    ok = cli_env.invoke(
        cli_app,
        ["police", "channel", "National Police", "--destination", "national-police",
         "--auto-release-hours", "24"],
    )  # fmt: skip
    assert ok.exit_code == 0 and "auto-release after 24 h" in ok.output, ok.output
    wrong = cli_env.invoke(cli_app, ["police", "channel", "A host", "--destination", "x"])
    assert wrong.exit_code == 1 and "not police" in wrong.output
    with transaction(session_factory) as s:
        _referred_case(s, "http://host-a.test/q")
    listed = cli_env.invoke(cli_app, ["police", "queue"])
    assert "national-police\twaiting" in listed.output and "ACK OVERDUE" in listed.output

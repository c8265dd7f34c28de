"""Partner batch intake: authentication, per-item outcomes, idempotent retries."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.cases.models import Case
from openhotline.reporting.models import Report


def test_batch_requires_a_valid_key(client: TestClient) -> None:
    body = {"reports": [{"urls": ["http://example.test/"]}]}
    assert client.post("/api/v1/reports/batch", json=body).status_code == 401
    r = client.post("/api/v1/reports/batch", json=body, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.json()["error"] == "unknown API key"


def test_batch_accepts_and_rejects_items_individually(
    client: TestClient, partner_headers: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    reports = [
        {"urls": ["http://example.test/1"], "external_id": "p-1"},
        {"urls": ["javascript:alert(1)"]},
        {"urls": ["http://example.test/2"], "bogus": 1},
        {"urls": ["http://example.test/1#again"], "child_in_danger": True},
        "not an object",
    ]
    r = client.post("/api/v1/reports/batch", json={"reports": reports}, headers=partner_headers)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["accepted"], out["rejected"]) == (2, 3)
    ok = [x["accepted"] for x in out["results"]]
    assert ok == [True, False, False, True, False]
    assert "only http and https" in out["results"][1]["error"]
    assert "unknown field" in out["results"][2]["error"] or "Extra" in out["results"][2]["error"]
    with session_factory() as s:
        assert s.execute(select(func.count()).select_from(Report)).scalar_one() == 2
        case = s.execute(select(Case)).scalar_one()
        assert case.report_count == 2 and case.priority == 100
    # A retry with the same external_id returns the same receipt and stores nothing new.
    r2 = client.post(
        "/api/v1/reports/batch",
        json={"reports": [reports[0], reports[0]]},
        headers=partner_headers,
    )
    res = r2.json()["results"]
    assert res[0]["duplicate"] and res[1]["duplicate"]
    assert res[0]["receipt"] == out["results"][0]["receipt"]
    with session_factory() as s:
        assert s.execute(select(func.count()).select_from(Report)).scalar_one() == 2


def test_batch_limits(client: TestClient, partner_headers: dict[str, str]) -> None:
    too_many = {"reports": [{"urls": [f"http://example.test/{i}"]} for i in range(1001)]}
    r = client.post("/api/v1/reports/batch", json=too_many, headers=partner_headers)
    assert r.status_code == 422 and "at most 1000" in r.json()["error"]
    r = client.post("/api/v1/reports/batch", json={"reports": []}, headers=partner_headers)
    assert r.status_code == 422
    r = client.post("/api/v1/reports/batch", json={"items": []}, headers=partner_headers)
    assert r.status_code == 422


def test_full_batch_of_1000(
    client: TestClient, partner_headers: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    body = {"reports": [{"urls": [f"http://example.test/{i % 700}"]} for i in range(1000)]}
    r = client.post("/api/v1/reports/batch", json=body, headers=partner_headers)
    assert r.status_code == 200 and r.json()["accepted"] == 1000
    receipts = {x["receipt"] for x in r.json()["results"]}
    assert len(receipts) == 1000
    with session_factory() as s:
        assert s.execute(select(func.count()).select_from(Case)).scalar_one() == 700
        assert s.execute(select(func.sum(Case.report_count))).scalar_one() == 1000


def test_bulk_written_rows_are_what_the_orm_reads_back(
    client: TestClient, partner_headers: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    """The raw bulk inserts (and COPY on PostgreSQL, from 100 reports on) write every
    column as the models would: timestamps, enums, flags, counts, positions, events."""
    from openhotline.cases.models import CaseEvent, CaseEventKind, CaseStatus
    from openhotline.reporting.models import ReportURL

    first = client.post(
        "/api/v1/reports/batch",
        json={"reports": [{"urls": ["http://bulk.test/known"]}]},
        headers=partner_headers,
    )
    assert first.status_code == 200
    reports = [
        {
            "urls": [f"http://bulk.test/{i}", "http://bulk.test/known", f"http://bulk.test/{i}#x"],
            "description": f"d{i}",
            "child_in_danger": i == 7,
            "external_id": f"e{i}",
            **({"contact_email": "a@b.test", "contact_consent": True} if i % 2 == 0 else {}),
        }
        for i in range(150)
    ]
    r = client.post("/api/v1/reports/batch", json={"reports": reports}, headers=partner_headers)
    assert r.status_code == 200 and r.json()["accepted"] == 150
    with session_factory() as s:
        stored = {x.external_id: x for x in s.execute(select(Report)).scalars()}
        assert len(stored) == 151
        r7 = stored["e7"]
        assert r7.child_in_danger and r7.description == "d7" and r7.source.startswith("partner")
        assert r7.created_at.tzinfo is not None and r7.contact_email is None
        assert stored["e8"].contact_email == "a@b.test" and stored["e8"].contact_consent
        assert [(u.position, u.submitted_url) for u in r7.urls] == [
            (0, "http://bulk.test/7"), (1, "http://bulk.test/known"), (2, "http://bulk.test/7#x"),
        ]  # fmt: skip
        cases = {c.canonical_url: c for c in s.execute(select(Case)).scalars()}
        assert len(cases) == 151
        known = cases["http://bulk.test/known"]
        assert known.report_count == 151 and known.priority == 100  # urgent via report 7
        seven = cases["http://bulk.test/7"]
        # Named twice by one report, counted once; urgent; new.
        assert (seven.report_count, seven.priority, seven.status) == (1, 100, CaseStatus.NEW)
        assert cases["http://bulk.test/8"].priority < 100
        assert seven.created_at == r7.created_at
        events = s.execute(select(CaseEvent)).scalars().all()
        assert len(events) == 151  # one "received" per new case, none for the known one again
        assert {(e.kind, e.to_status) for e in events} == {(CaseEventKind.RECEIVED, CaseStatus.NEW)}
        assert s.execute(select(func.count()).select_from(ReportURL)).scalar_one() == 451


def _stored_shape(factory: sessionmaker[Session]) -> list[tuple[str, str, int, int]]:
    """(report external_id, case URL, position, case report_count) for every report URL."""
    from openhotline.reporting.models import ReportURL

    with factory() as s:
        rows = s.execute(
            select(Report.external_id, Case.canonical_url, ReportURL.position, Case.report_count)
            .join(ReportURL, ReportURL.report_id == Report.id)
            .join(Case, Case.id == ReportURL.case_id)
        ).all()
    return sorted((str(e), str(u), int(p), int(c)) for e, u, p, c in rows)


def test_sqlite_writes_under_its_lock_as_the_general_path_does(
    db_url: str, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """Under the write lock (the group committer's IMMEDIATE transaction) SQLite's cases and
    reports get ids of our own and no RETURNING; the rows must be the ones the general
    path (a deferred transaction, as the CLI's) writes."""
    from openhotline.db import (
        make_engine,
        make_sessionmaker,
        sqlite_write_locked,
        transaction,
        write_transaction,
    )
    from openhotline.reporting import service

    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite's path")
    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    shutil.copyfile(db_url.removeprefix("sqlite:///"), tmp_path / "other.db")
    other = make_sessionmaker(make_engine(other_url))
    first = [{"urls": [f"http://lock.test/{i}"], "external_id": f"a{i}"} for i in range(30)]
    second = [
        {"urls": [f"http://lock.test/{i}", f"http://lock.test/n{i}"], "external_id": f"b{i}"}
        for i in range(20, 60)
    ]
    for factory, txn in ((session_factory, write_transaction), (other, transaction)):
        for items in (first, second):
            with txn(factory) as session:
                assert sqlite_write_locked(session) is (txn is write_transaction)
                service.submit_batch(session, items, source="p")
    assert _stored_shape(session_factory) == _stored_shape(other)
    with transaction(session_factory) as session, pytest.raises(RuntimeError):
        service._REPORTS.next_ids(session, 3)


def test_cases_reported_before_are_counted_and_raised_in_one_statement(
    db_url: str, session_factory: sessionmaker[Session]
) -> None:
    """Cases already stored get each group's counts and urgency right, whatever mix of
    counts the group holds, by one UPDATE statement (it was one ORM UPDATE per distinct
    count plus one for urgency: on PostgreSQL round trips and statements the server
    planned each time; on SQLite an IN list compiled by the ORM each time)."""
    from sqlalchemy import event

    from openhotline.cases.models import PRIORITY_CHILD_IN_DANGER, PRIORITY_NORMAL
    from openhotline.db import transaction
    from openhotline.reporting import service

    urls = [f"http://again.test/{i}" for i in range(4)]
    with transaction(session_factory) as session:
        service.submit_batch(session, [{"urls": [u]} for u in urls], source="p")
    # Case 0 named by 3 reports, 1 by 2 (one urgent), 2 by 1, 3 by none.
    again = [
        {"urls": [urls[0], urls[1]]},
        {"urls": [urls[0], urls[0]]},
        {"urls": [urls[0], urls[2]]},
        {"urls": [urls[1]], "child_in_danger": True},
    ]
    updates: list[str] = []
    with transaction(session_factory) as session:
        event.listen(
            session.connection(),
            "before_cursor_execute",
            lambda *a: updates.append(a[2]) if a[2].lstrip().upper().startswith("UPDATE") else None,
        )
        service.submit_batch(session, again, source="p")
    with session_factory() as session:
        got = {
            c.canonical_url: (c.report_count, c.priority)
            for c in session.execute(select(Case)).scalars()
        }
    assert got == {
        urls[0]: (4, PRIORITY_NORMAL),
        urls[1]: (3, PRIORITY_CHILD_IN_DANGER),
        urls[2]: (2, PRIORITY_NORMAL),
        urls[3]: (1, PRIORITY_NORMAL),
    }
    assert len(updates) == 1

"""A report for a closed or removed URL reopens its case (the `reopen` transition)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.cases.models import Case, CaseEvent, CaseEventKind, CaseStatus
from tests.case_support import walk_to


@pytest.mark.parametrize("ended", [CaseStatus.CLOSED, CaseStatus.REMOVED])
def test_report_after_the_end_reopens_the_case(
    client: TestClient, session_factory: sessionmaker[Session], ended: CaseStatus
) -> None:
    url = "http://example.test/again"
    assert client.post("/api/v1/reports", json={"urls": [url]}).status_code == 201
    with session_factory.begin() as s:
        case = s.execute(select(Case)).scalar_one()
        walk_to(s, case, ended)
        closed_at, removed_at = case.closed_at, case.removed_at
    receipt = client.post("/api/v1/reports", json={"urls": [url]}).json()["receipt"]
    assert client.get(f"/api/v1/reports/{receipt}").json() == {"status": "received"}
    with session_factory() as s:
        case = s.execute(select(Case)).scalar_one()
        assert case.status == CaseStatus.NEW and case.report_count == 2
        # Milestones keep the first time: time-to-removal still measures the first removal.
        assert (case.closed_at, case.removed_at) == (closed_at, removed_at)
        last = s.execute(select(CaseEvent).order_by(CaseEvent.id.desc()).limit(1)).scalar_one()
        assert (last.kind, last.from_status, last.to_status, last.actor) == (
            CaseEventKind.STATUS,
            ended,
            CaseStatus.NEW,
            "intake",
        )


def test_report_for_an_open_case_does_not_move_it(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    url = "http://example.test/open"
    client.post("/api/v1/reports", json={"urls": [url]})
    with session_factory.begin() as s:
        walk_to(s, s.execute(select(Case)).scalar_one(), CaseStatus.ACTIONED)
    client.post("/api/v1/reports", json={"urls": [url]})
    with session_factory() as s:
        assert s.execute(select(Case.status)).scalar_one() == CaseStatus.ACTIONED

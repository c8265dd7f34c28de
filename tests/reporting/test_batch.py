"""Partner batch intake: authentication, per-item outcomes, idempotent retries."""

from __future__ import annotations

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

"""Public reporting through the HTTP API, on a real database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.cases.models import Case, CaseEvent, CaseStatus
from openhotline.cases.service import move
from openhotline.reporting.models import Report


def _count(factory: sessionmaker[Session], model: type) -> int:
    with factory() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def test_report_gets_receipt_and_status(client: TestClient) -> None:
    r = client.post("/api/v1/reports", json={"urls": ["http://example.test/a"], "description": "x"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"receipt", "status"}
    assert body["status"] == "received"
    receipt = body["receipt"]
    assert len(receipt.replace("-", "")) == 20
    s = client.get(f"/api/v1/reports/{receipt}")
    assert s.status_code == 200
    assert s.json() == {"status": "received"}
    # People type receipts in lower case and without dashes.
    assert client.get(f"/api/v1/reports/{receipt.replace('-', '').lower()}").status_code == 200


def test_unknown_receipt_is_404(client: TestClient) -> None:
    r = client.get("/api/v1/reports/AAAA-AAAA-AAAA-AAAA-AAAA")
    assert r.status_code == 404
    assert r.json()["error"]


def test_duplicates_merge_into_one_case(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    urls = [
        "http://Example.TEST:80/a/./b/../c?x=1&utm_source=mail#frag",
        "HTTP://example.test/a/c?x=1",
        "http://example.test/a/%63?x=1&fbclid=abc",
    ]
    for u in urls:
        assert client.post("/api/v1/reports", json={"urls": [u]}).status_code == 201
    with session_factory() as s:
        cases = s.execute(select(Case)).scalars().all()
        assert [c.canonical_url for c in cases] == ["http://example.test/a/c?x=1"]
        assert cases[0].report_count == 3
        events = s.execute(select(CaseEvent)).scalars().all()
        assert [e.kind for e in events] == ["received"]
    assert _count(session_factory, Report) == 3


def test_child_in_danger_raises_priority(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    client.post("/api/v1/reports", json={"urls": ["http://example.test/p"]})
    client.post(
        "/api/v1/reports", json={"urls": ["http://example.test/p"], "child_in_danger": True}
    )
    with session_factory() as s:
        case = s.execute(select(Case)).scalar_one()
        assert case.priority == 100


BAD_INPUTS = [
    ({"urls": ["javascript:alert(1)"]}, 422, "only http and https"),
    ({"urls": ["file:///etc/passwd"]}, 422, "only http and https"),
    ({"urls": ["data:text/html,hi"]}, 422, "only http and https"),
    ({"urls": ["http://example.test/" + "a" * 5000]}, 422, "longer than 4096"),
    ({"urls": [f"http://example.test/{i}" for i in range(51)]}, 422, "too many URLs"),
    ({"urls": []}, 422, "urls"),
    ({"urls": ["http://example.test/"], "colour": "red"}, 422, "unknown field"),
    ({"description": "no urls"}, 422, "urls"),
    ({"urls": ["http://example.test/"], "contact_email": "a@b.example"}, 422, "consent"),
    ({"urls": ["http://example.test/"], "external_id": "x"}, 422, "partner"),
    ({"urls": "http://example.test/"}, 422, "urls"),
]


def test_bad_inputs_are_refused_and_nothing_stored(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    for body, status, needle in BAD_INPUTS:
        r = client.post("/api/v1/reports", json=body)
        assert r.status_code == status, (body, r.text)
        assert needle in json.dumps(r.json()), (body, r.json())
    assert _count(session_factory, Report) == 0
    assert _count(session_factory, Case) == 0


def test_invalid_utf8_and_json_and_size(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    headers = {"content-type": "application/json"}
    r = client.post("/api/v1/reports", content=b'{"urls": ["http://a.test/\xff"]}', headers=headers)
    assert r.status_code == 400 and "UTF-8" in r.json()["error"]
    r = client.post("/api/v1/reports", content=b'{"urls": [', headers=headers)
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    r = client.post("/api/v1/reports", content=b"[1, 2]", headers=headers)
    assert r.status_code == 400
    big = json.dumps({"urls": ["http://a.test/"], "description": "x" * 300_000}).encode()
    r = client.post("/api/v1/reports", content=big, headers=headers)
    assert r.status_code == 413
    r = client.post("/api/v1/reports", content=b"urls=x", headers={"content-type": "text/plain"})
    assert r.status_code == 415
    assert _count(session_factory, Report) == 0


def test_streamed_oversized_body_is_refused(client: TestClient) -> None:
    def chunks():  # no Content-Length: the limit must hold while streaming
        for _ in range(40):
            yield b" " * 10_000

    r = client.post(
        "/api/v1/reports", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413


def test_no_client_data_stored(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    client.post(
        "/api/v1/reports",
        json={"urls": ["http://example.test/z"]},
        headers={"User-Agent": "UniqueAgent/9.9", "X-Forwarded-For": "203.0.113.77"},
    )
    with session_factory() as s:
        report = s.execute(select(Report)).scalar_one()
        dumped = json.dumps({c.name: str(getattr(report, c.name)) for c in Report.__table__.c})
    assert "UniqueAgent" not in dumped and "203.0.113.77" not in dumped
    assert "testclient" not in dumped
    assert "set-cookie" not in {k.lower() for k in client.get("/report").headers}


def test_contact_only_with_consent(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    r = client.post(
        "/api/v1/reports",
        json={
            "urls": ["http://example.test/c"],
            "contact_email": "me@mail.example",
            "contact_consent": True,
        },
    )
    assert r.status_code == 201
    with session_factory() as s:
        assert s.execute(select(Report.contact_email)).scalar_one() == "me@mail.example"


def test_status_follows_case_lifecycle(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    receipt = client.post(
        "/api/v1/reports", json={"urls": ["http://example.test/1", "http://example.test/2"]}
    ).json()["receipt"]
    with session_factory.begin() as s:
        c1, c2 = s.execute(select(Case).order_by(Case.id)).scalars().all()
        move(s, c1, CaseStatus.ASSESSING, actor="analyst:1")
    assert client.get(f"/api/v1/reports/{receipt}").json() == {"status": "being assessed"}
    with session_factory.begin() as s:
        c1, c2 = s.execute(select(Case).order_by(Case.id)).scalars().all()
        move(s, c1, CaseStatus.ASSESSED, actor="analyst:1")
        move(s, c1, CaseStatus.ACTIONED, actor="takedown")
        move(s, c2, CaseStatus.CLOSED, actor="analyst:1")
    assert client.get(f"/api/v1/reports/{receipt}").json() == {"status": "actioned"}
    with session_factory.begin() as s:
        c1 = s.execute(select(Case).order_by(Case.id)).scalars().first()
        assert c1 is not None
        move(s, c1, CaseStatus.CLOSED, actor="appeal")
    assert client.get(f"/api/v1/reports/{receipt}").json() == {"status": "closed"}
    with session_factory() as s:
        c1 = s.execute(select(Case).order_by(Case.id)).scalars().first()
        assert c1 is not None and c1.actioned_at and c1.closed_at and c1.first_assessed_at
        assert c1.actioned_at <= c1.closed_at
        kinds = [(e.from_status, e.to_status) for e in c1.events if e.kind == "status"]
        assert kinds == [
            ("new", "assessing"),
            ("assessing", "assessed"),
            ("assessed", "actioned"),
            ("actioned", "closed"),
        ]


def test_openapi_lists_the_report_endpoints(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/reports" in spec["paths"]
    assert "/api/v1/reports/batch" in spec["paths"]
    assert "requestBody" in spec["paths"]["/api/v1/reports"]["post"]


def test_domain_routes_sit_flat_on_the_app(client: TestClient) -> None:
    """Every domain's routes are the app's own (no per-request router resolution), in order.

    FastAPI 0.137+ keeps an included router as a node resolved on every request; with ~45
    routers that cost more than the whole intake path, so create_app puts the routes up.
    """
    from fastapi.routing import APIRoute
    from starlette.routing import Mount, Route

    app = client.app
    routes = app.router.routes  # type: ignore[attr-defined]
    assert all(isinstance(r, APIRoute | Route | Mount) for r in routes), [
        type(r).__name__ for r in routes if not isinstance(r, APIRoute | Route | Mount)
    ]
    # Order and methods are kept: the batch POST still reaches its own route (a partner key
    # is asked for), not the receipt look-up's GET /reports/{receipt} beside it.
    assert client.post("/api/v1/reports/batch", json={"reports": []}).status_code == 401


def test_startup_objects_are_kept_out_of_the_collectors_full_passes(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve`'s app freezes its startup objects (gc): they were the p99 tail. An app built
    for tests does not (their cycles must stay collectable)."""
    import gc

    from openhotline.app import create_app, create_server_app

    monkeypatch.setenv("OPENHOTLINE_DATABASE_URL", db_url)
    monkeypatch.setenv("OPENHOTLINE_DATA_DIR", str(tmp_path))
    gc.unfreeze()
    threshold = gc.get_threshold()
    try:
        with TestClient(create_app()):
            assert gc.get_freeze_count() == 0
            assert gc.get_threshold() == threshold
        app = create_server_app()
        assert gc.get_freeze_count() == 0
        with TestClient(app):
            assert gc.get_freeze_count() > 0
            # Batches' objects in flight are not walked again every 700 allocations.
            assert gc.get_threshold()[0] >= 50_000
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_intake_answers_are_their_models_compact_json(
    client: TestClient, partner_headers: dict[str, str]
) -> None:
    """The intake routes send their answers as built (no second pass through the response
    model): the bytes must be what FastAPI's encoding of that model gives."""
    from openhotline.reporting.schemas import BatchOut, ReceiptOut

    r = client.post("/api/v1/reports", json={"urls": ["http://answer.test/ü"]})
    assert r.status_code == 201 and r.headers["content-type"] == "application/json"
    assert r.content == ReceiptOut.model_validate_json(r.content).model_dump_json().encode()
    b = client.post(
        "/api/v1/reports/batch",
        json={"reports": [{"urls": ["http://answer.test/ü"]}, {"urls": ["nope"]}]},
        headers=partner_headers,
    )
    assert b.status_code == 200 and b.json()["rejected"] == 1
    assert b.content == BatchOut.model_validate_json(b.content).model_dump_json().encode()

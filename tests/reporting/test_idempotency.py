"""Idempotency-Key on report submission: a retry files nothing new; keys expire; digests only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.app import create_app
from openhotline.clock import FixedClock
from openhotline.config import Settings, hash_api_key
from openhotline.reporting.models import IntakeIdempotencyKey, Report

KEY = "7f1d6c2e-4b0a-4a55-9a61-3f7f5e2b9c11"
REPORT = {"urls": ["https://example.org/a"], "description": "seen on a forum"}
OTHER_KEY = "second-partner-key-0123456789"


@pytest.fixture
def clock_at() -> FixedClock:
    """A clock the test moves forward."""
    return FixedClock(datetime(2026, 12, 1, 6, 0, tzinfo=UTC))


@pytest.fixture
def app_client(settings: Settings, clock_at: FixedClock) -> Iterator[TestClient]:
    """The app with a fixed clock, two partner keys and 2-hour idempotency keys."""
    configured = settings.model_copy(
        update={
            "idempotency_key_hours": 2.0,
            "partner_api_key_hashes": [
                *settings.partner_api_key_hashes,
                hash_api_key(OTHER_KEY),
            ],
        }
    )
    with TestClient(create_app(configured, clock=clock_at)) as client:
        yield client


def _reports(factory: sessionmaker[Session]) -> int:
    with factory() as s:
        return int(s.execute(select(func.count()).select_from(Report)).scalar_one())


def test_a_retry_with_the_same_key_and_body_returns_the_first_receipt(
    app_client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    first = app_client.post("/api/v1/reports", json=REPORT, headers={"Idempotency-Key": KEY})
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    # Same body, keys in another order: the same submission.
    again = app_client.post(
        "/api/v1/reports",
        json=dict(reversed(list(REPORT.items()))),
        headers={"Idempotency-Key": KEY},
    )
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _reports(session_factory) == 1
    # Without a key, every submission is filed.
    assert app_client.post("/api/v1/reports", json=REPORT).status_code == 201
    assert _reports(session_factory) == 2


def test_the_same_key_with_another_body_is_refused(
    app_client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    headers = {"Idempotency-Key": KEY}
    assert app_client.post("/api/v1/reports", json=REPORT, headers=headers).status_code == 201
    other = {"urls": ["https://example.org/b"]}
    r = app_client.post("/api/v1/reports", json=other, headers=headers)
    assert r.status_code == 409, r.text
    assert "different body" in r.json()["error"]
    assert _reports(session_factory) == 1


def test_keys_expire_after_the_configured_time(
    app_client: TestClient, session_factory: sessionmaker[Session], clock_at: FixedClock
) -> None:
    headers = {"Idempotency-Key": KEY}
    first = app_client.post("/api/v1/reports", json=REPORT, headers=headers).json()
    clock_at.advance(timedelta(hours=1, minutes=59))
    assert app_client.post("/api/v1/reports", json=REPORT, headers=headers).json() == first
    clock_at.advance(timedelta(minutes=2))
    later = app_client.post("/api/v1/reports", json=REPORT, headers=headers)
    assert later.status_code == 201 and later.json() != first
    assert _reports(session_factory) == 2
    with session_factory() as s:
        assert s.execute(select(func.count()).select_from(IntakeIdempotencyKey)).scalar_one() == 1


@pytest.mark.parametrize("bad", ["", "a" * 256, "with space", "caf\u00e9"])
def test_malformed_keys_are_refused(app_client: TestClient, bad: str) -> None:
    r = app_client.post("/api/v1/reports", json=REPORT, headers={"Idempotency-Key": bad.encode()})
    assert r.status_code in (400, 422), r.text
    assert r.json()["error"]


def test_batches_are_idempotent_per_partner(
    app_client: TestClient,
    session_factory: sessionmaker[Session],
    partner_headers: dict[str, str],
) -> None:
    batch = {"reports": [REPORT, {"urls": ["https://example.org/c"]}, {"urls": ["nope"]}]}
    headers = {**partner_headers, "Idempotency-Key": KEY}
    first = app_client.post("/api/v1/reports/batch", json=batch, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["accepted"] == 2
    again = app_client.post("/api/v1/reports/batch", json=batch, headers=headers)
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert _reports(session_factory) == 2
    # Another partner's key space is its own: the same key files its batch.
    other = {"Authorization": f"Bearer {OTHER_KEY}", "Idempotency-Key": KEY}
    assert app_client.post("/api/v1/reports/batch", json=batch, headers=other).status_code == 200
    assert _reports(session_factory) == 4
    changed = {"reports": [REPORT]}
    r = app_client.post("/api/v1/reports/batch", json=changed, headers=headers)
    assert r.status_code == 409


def test_only_digests_are_stored(
    app_client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    app_client.post("/api/v1/reports", json=REPORT, headers={"Idempotency-Key": KEY})
    with session_factory() as s:
        row = s.execute(select(IntakeIdempotencyKey)).scalar_one()
    stored = " ".join([row.key_hash, row.body_hash, row.response])
    assert KEY not in stored and "example.org" not in stored and "testclient" not in stored
    assert len(row.key_hash) == len(row.body_hash) == 64

"""The receiving side: only configured peer hotlines, only valid signatures, idempotent."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.app import create_app
from openhotline.audit.service import canonical_json
from openhotline.config import FederationPeer, Settings
from openhotline.federation.models import Referral
from openhotline.partners import service as partners
from openhotline.signing.service import SigningKey, load_or_create

PATH = "/api/v1/federation/referrals"


@pytest.fixture
def peer_key(tmp_path: Path) -> SigningKey:
    return load_or_create(tmp_path / "peer")


@pytest.fixture
def receiver(settings: Settings, peer_key: SigningKey) -> TestClient:
    configured = settings.model_copy(
        update={
            "own_countries": ["BB"],
            "federation_peers": {
                "AA": FederationPeer(
                    base_url="http://127.0.0.1:9", api_key="unused", public_key=peer_key.public_b64
                )
            },
        }
    )
    return TestClient(create_app(configured))


def _key(factory: sessionmaker[Session], name: str, kind: str, country: str | None) -> str:
    with factory.begin() as s:
        org = partners.create_org(s, name, kind, country, actor="t")
        return partners.create_key(s, org, ["referrals.receive"], actor="t")[1]


def _body(**over: object) -> bytes:
    body = {
        "type": "referral",
        "message_id": str(uuid.uuid4()),
        "referral_id": str(uuid.uuid4()),
        "sender": "AA",
        "recipient": "BB",
        "sent_at": "2026-01-01T00:00:00+00:00",
        "urls": ["http://hosted.example.test/p"],
        "items": [{"sha256": "a" * 64, "md5": "b" * 32, "sha1": None, "pdq": None}],
        **over,
    }
    return canonical_json(body).encode()


def _post(
    client: TestClient, body: bytes, token: str, sig: str, sender: str = "AA"
) -> httpx.Response:
    return client.post(
        PATH,
        content=body,
        headers={
            "Authorization": f"Bearer {token}",
            "X-Openhotline-Signature": sig,
            "X-Openhotline-Sender": sender,
            "Content-Type": "application/json",
        },
    )


def test_signed_referral_is_accepted_once(
    receiver: TestClient, session_factory: sessionmaker[Session], peer_key: SigningKey
) -> None:
    token = _key(session_factory, "Hotline AA", "hotline", "AA")
    body = _body()
    first = _post(receiver, body, token, peer_key.sign(body))
    again = _post(receiver, body, token, peer_key.sign(body))
    assert first.status_code == 200 and first.json()["duplicate"] is False
    assert again.status_code == 200 and again.json()["duplicate"] is True
    with session_factory() as s:
        assert s.execute(select(func.count()).select_from(Referral)).scalar_one() == 1


def test_refusals(
    receiver: TestClient,
    session_factory: sessionmaker[Session],
    peer_key: SigningKey,
    tmp_path: Path,
) -> None:
    token = _key(session_factory, "Hotline AA", "hotline", "AA")
    police = _key(session_factory, "Police AA", "police", "AA")
    body = _body()
    good = peer_key.sign(body)
    forged = load_or_create(tmp_path / "other").sign(body)
    cases = [
        (_post(receiver, body, token, forged), 401, "bad signature"),
        (_post(receiver, body, token, ""), 401, "bad signature"),
        (_post(receiver, body, token, good, sender="CC"), 403, "no partner hotline"),
        (_post(receiver, body, police, good), 403, "does not belong"),
        (_post(receiver, body, "wrong-key", good), 401, "unknown API key"),
    ]
    for response, status, text in cases:
        assert response.status_code == status, response.text
        assert text in response.json()["error"]
    for bad, status in (
        (b"{not json", 400),
        (_body(urls=[]), 422),
        (_body(extra=1), 422),
        (_body(sender="CC"), 422),
        (_body(recipient="DD"), 422),
        (_body(urls=["javascript:alert(1)"]), 422),
        (_body(media_included=True), 422),
    ):
        r = _post(receiver, bad, token, peer_key.sign(bad))
        assert r.status_code == status, (bad, r.text)
    with session_factory() as s:
        assert s.execute(select(func.count()).select_from(Referral)).scalar_one() == 0


def test_status_for_unknown_referral(
    receiver: TestClient, session_factory: sessionmaker[Session], peer_key: SigningKey
) -> None:
    token = _key(session_factory, "Hotline AA", "hotline", "AA")
    body = canonical_json(
        {
            "type": "status",
            "message_id": str(uuid.uuid4()),
            "referral_id": str(uuid.uuid4()),
            "sender": "AA",
            "recipient": "BB",
            "status": "removed",
            "at": "2026-01-01T00:00:00+00:00",
        }
    ).encode()
    r = receiver.post(
        "/api/v1/federation/status",
        content=body,
        headers={
            "Authorization": f"Bearer {token}",
            "X-Openhotline-Signature": peer_key.sign(body),
            "X-Openhotline-Sender": "AA",
        },
    )
    assert r.status_code == 404 and json.loads(r.text)["error"].startswith("no referral")

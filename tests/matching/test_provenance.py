"""Provenance privacy: /api/v1/match shows an entry's source only to the bank's owner."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from openhotline.app import create_app
from openhotline.config import Settings
from openhotline.db import transaction
from openhotline.matching import service
from openhotline.matching.models import HashType
from openhotline.partners import service as partners

pytestmark = pytest.mark.db

MD5_A = "a" * 32
MD5_B = "b" * 32


@pytest.fixture
def app_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def _setup(client: TestClient) -> tuple[str, str]:
    """Two partners with match keys; one owns a bank, the other bank is a third party's."""
    factory = client.app.state.services.sessionmaker  # type: ignore[attr-defined]
    with transaction(factory) as s:
        alpha = partners.create_org(s, "Alpha hotline", "hotline", "NL", actor="t")
        beta = partners.create_org(s, "Beta hotline", "hotline", "BE", actor="t")
        _, key_a = partners.create_key(s, alpha, ["hashes.match"], actor="t")
        _, key_b = partners.create_key(s, beta, ["hashes.match"], actor="t")
        own = service.create_bank(s, "alpha-list", owner_org_id=alpha.id)
        service.add_entry(s, own, HashType.MD5, MD5_A, source="Alpha hotline", classification="A1")
        third = service.create_bank(s, "gamma-list")
        service.add_entry(s, third, HashType.MD5, MD5_B, source="Gamma", classification="B2")
    return key_a, key_b


def _sources(client: TestClient, key: str) -> dict[str, list[tuple[str, str | None]]]:
    r = client.post(
        "/api/v1/match",
        json={"hashes": [{"hash_type": "md5", "hash": MD5_A}, {"hash_type": "md5", "hash": MD5_B}]},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 200, r.text
    return {
        b["bank"]: [(m["classification"], m["source"]) for m in b["matches"]]
        for b in r.json()["banks"]
    }


def test_source_only_for_the_owner_of_the_bank(app_client: TestClient) -> None:
    key_a, key_b = _setup(app_client)
    assert _sources(app_client, key_a) == {
        "alpha-list": [("A1", "Alpha hotline")],  # Alpha owns it: its own provenance
        "gamma-list": [("B2", None)],
    }
    as_beta = _sources(app_client, key_b)
    assert as_beta == {"alpha-list": [("A1", None)], "gamma-list": [("B2", None)]}
    r = app_client.post(
        "/api/v1/match",
        json={"hashes": [{"hash_type": "md5", "hash": MD5_A}]},
        headers={"Authorization": f"Bearer {key_b}"},
    )
    assert "Alpha" not in r.text  # nowhere in the answer, not just not in `source`

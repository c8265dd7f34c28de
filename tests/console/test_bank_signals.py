"""The bank page's signal settings (local features, audited) and subscription status."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from openhotline.audit import service as audit
from openhotline.db import transaction
from openhotline.matching import service
from openhotline.matching.models import BankSubscription
from tests.console_fixtures import Staff, login


def _banks(session_factory: sessionmaker[Session]) -> int:
    """An own bank and a subscribed partner bank whose last sync failed; the own bank's id."""
    with transaction(session_factory) as s:
        own = service.create_bank(s, "own-items")
        partner = service.create_bank(s, "partner-feed")
        s.add(
            BankSubscription(
                bank_id=partner.id, list_url="https://partner.example.test/api/v1/lists/hashes",
                api_key_file="/nonexistent/key", verify_key="x", interval_minutes=60,
                version=7, created_at=datetime(2026, 1, 1, tzinfo=UTC),
                last_success_at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
                last_error="signature does not verify",
            )
        )  # fmt: skip
        return own.id


def _row(page: str, bank: str) -> str:
    return page.split('id="bank-signals"')[1].split(f'data-bank="{bank}"')[1].split("</tr>")[0]


def test_admin_changes_feature_settings_audited(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
) -> None:
    bank_id = _banks(session_factory)
    admin = new_client()
    csrf = login(admin, make_user("root", "admin"))
    page = admin.get("/console/banks").text
    own = _row(page, "own-items")
    assert 'name="features_enabled" value="1"' in own and " checked" in own
    assert 'id="min-inliers-' in own and 'value="20"' in own and 'value="28"' in own
    assert "not subscribed" in own and '<td class="pdq-radius">31</td>' in own
    feed = _row(page, "partner-feed")
    assert "https://partner.example.test/api/v1/lists/hashes" in feed
    assert '<span class="version">7</span>' in feed and "2026-01-02 03:04 UTC" in feed
    assert "last error: signature does not verify" in feed
    url = f"/console/banks/{bank_id}/settings"
    for bad, message in (
        ({"min_inliers": "abc"}, "must be a whole number"),
        ({"min_inliers": "3"}, "min_inliers must be between 8"),
        ({"feature_radius": "200"}, "descriptor radius must be between 0 and 64"),
    ):
        r = admin.post(url, data={"csrf_token": csrf, "features_enabled": "1", **bad})
        assert r.status_code == 400 and message in r.text, r.text
    missing = admin.post("/console/banks/999/settings", data={"csrf_token": csrf})
    assert missing.status_code == 404
    ok = admin.post(
        url,
        data={"csrf_token": csrf, "min_inliers": "25", "feature_radius": "24"},
        follow_redirects=False,
    )  # the box left unticked: features off
    assert ok.status_code == 303
    own = _row(admin.get("/console/banks").text, "own-items")
    assert 'value="25"' in own and 'value="24"' in own and " checked" not in own
    with session_factory() as s:
        trail = [
            (e.actor, e.target, audit.details_of(e)) for e in audit.recent(s, action_prefix="bank.")
        ]
        bank = service.get_bank(s, "own-items")
        assert (bank.features_enabled, bank.features_min_inliers, bank.features_radius) == (
            False, 25, 24,
        )  # fmt: skip
    assert trail == [
        (
            "user:root",
            "bank:own-items",
            {
                "features_enabled": [True, False],
                "features_min_inliers": [20, 25],
                "features_radius": [28, 24],
            },
        )
    ]


def test_supervisor_sees_settings_but_cannot_change_them(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
) -> None:
    bank_id = _banks(session_factory)
    sup = new_client()
    csrf = login(sup, make_user("sue", "supervisor"))
    own = _row(sup.get("/console/banks").text, "own-items")
    assert "on, min inliers 20, descriptor radius 28" in own and "<input" not in own
    refused = sup.post(
        f"/console/banks/{bank_id}/settings", data={"csrf_token": csrf, "min_inliers": "30"}
    )
    assert refused.status_code == 403

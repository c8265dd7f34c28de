"""Bad input to the takedown API gets clear 4xx answers."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from openhotline.config import Settings
from openhotline.takedown.notices import sign
from tests.console_fixtures import Staff, login


def test_confirm_bad_inputs(client: TestClient, settings: Settings) -> None:
    assert client.get("/api/v1/notices/1/confirm").status_code == 422  # no signature
    r = client.get("/api/v1/notices/abc/confirm?sig=00")
    assert r.status_code == 422 and r.json()["error"]
    assert client.get("/api/v1/notices/1/confirm?sig=" + "a" * 101).status_code == 422
    r = client.get("/api/v1/notices/1/confirm?sig=" + "0" * 40)
    assert r.status_code == 404 and r.json()["error"] == "unknown or invalid confirmation link"
    # A valid signature for a notice that does not exist is still a plain 404.
    good = sign(client.app.state.services.notice_link_key, 999)  # type: ignore[attr-defined]
    assert client.get(f"/api/v1/notices/999/confirm?sig={good}").status_code == 404


def test_stats_need_a_supervisor_and_start_empty(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    partner_headers: dict[str, str],
) -> None:
    anonymous = new_client()
    assert anonymous.get("/api/v1/stats/takedown").status_code == 401
    assert anonymous.get("/api/v1/stats/takedown", headers=partner_headers).status_code == 401
    analyst = new_client()
    login(analyst, make_user("ana", "analyst"))
    assert analyst.get("/api/v1/stats/takedown").status_code == 403
    client = new_client()
    login(client, make_user("sup", "supervisor"))
    r = client.get("/api/v1/stats/takedown")
    assert r.status_code == 200
    body = r.json()
    assert body["cases"] == 0 and body["notices_per_case"] is None
    assert body["time_to_removal"] == {
        "count": 0,
        "median_seconds": None,
        "mean_seconds": None,
        "max_seconds": None,
    }


def test_confirm_refuses_malformed_signatures_without_a_server_error(client: TestClient) -> None:
    # A non-ASCII signature made hmac.compare_digest raise TypeError (HTTP 500, no login).
    good = sign(client.app.state.services.notice_link_key, 1)  # type: ignore[attr-defined]
    for sig in ["é" * 40, "\u0661" * 40, good[:-1], good + "0", good.upper(), "g" * 40, ""]:
        r = client.get("/api/v1/notices/1/confirm", params={"sig": sig})
        assert r.status_code == 404, (sig, r.text)
        assert r.json()["error"] == "unknown or invalid confirmation link"

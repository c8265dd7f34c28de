"""Hostile JSON bodies (huge numbers, deep nesting) are a 400 with a message on every route."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from openhotline.web import jsonlimits
from tests.web.routes import api_routes

HOSTILE = {
    "5000-digit integer": '{"urls": [' + "1" * 5000 + "]}",
    "5000-digit float": '{"a": 1.' + "5" * 5000 + "}",
    "arrays 10,000 deep": '{"a": ' + "[" * 10_000 + "]" * 10_000 + "}",
    "arrays 100,000 deep": "[" * 100_000 + "]" * 100_000,
    "objects 50 deep": '{"a":' * 50 + "1" + "}" * 50,
    "NaN": '{"a": NaN}',
}


def test_loads_refuses_each_limit_with_a_message() -> None:
    for name, body in HOSTILE.items():
        with pytest.raises(jsonlimits.JsonLimitError):
            jsonlimits.loads(body)
        assert name


def test_loads_reads_ordinary_documents() -> None:
    doc = {"urls": ["https://example.org/"], "n": 12345678901234567890, "f": 1.5, "x": [[1]]}
    assert jsonlimits.loads(json.dumps(doc)) == doc
    assert jsonlimits.loads("[" * 32 + "]" * 32) is not None


def _body_routes(client: TestClient) -> list[tuple[str, str]]:
    out = []
    for route in api_routes(client.app):  # type: ignore[arg-type]
        path = route.path.replace("{", "").replace("}", "")  # any value for path parameters
        for method in route.methods & {"POST", "PUT", "PATCH"}:
            out.append((method, path))
    return out


@pytest.mark.parametrize("content_type", ["application/json", "text/json", None])
def test_every_route_answers_hostile_json_with_400(
    client: TestClient, partner_headers: dict[str, str], content_type: str | None
) -> None:
    routes = _body_routes(client)
    assert any(path == "/api/v1/reports" for _, path in routes)
    headers = dict(partner_headers)
    if content_type:
        headers["content-type"] = content_type
    for method, path in routes:
        for name, body in HOSTILE.items():
            response = client.request(method, path, content=body, headers=headers)
            assert response.status_code == 400, (method, path, name, response.text[:200])
            assert "body refused" in response.json()["error"], (path, name)


def test_a_valid_report_still_goes_through(client: TestClient) -> None:
    response = client.post("/api/v1/reports", json={"urls": ["https://example.org/a"]})
    assert response.status_code == 201, response.text

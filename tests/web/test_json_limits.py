"""Hostile JSON bodies (huge numbers, deep nesting) are a 400 with a message on every route."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

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


_LEAVES = st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.text(max_size=8)
# Texts of brackets and quotes as well, so a bracket inside a string is tried too.
_DOCS = st.recursive(
    _LEAVES | st.text(alphabet='[]{}"\\', max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=60,
)


def _reference(text: str) -> object:
    """The rules as before the shared decoder and the bracket count: json.loads, full walk."""
    value = json.loads(
        text,
        parse_int=jsonlimits._bounded_int,
        parse_float=jsonlimits._bounded_float,
        parse_constant=jsonlimits._no_constant,
    )
    jsonlimits._check_depth(value)
    return value


@settings(max_examples=300, deadline=None)
@given(doc=_DOCS, wrap=st.integers(0, 40))
def test_loads_decides_as_the_full_walk_does(doc: object, wrap: int) -> None:
    """Skipping the depth walk for documents with few brackets never changes an answer."""
    text = "[" * wrap + json.dumps(doc) + "]" * wrap
    try:
        expected: object = _reference(text)
    except jsonlimits.JsonLimitError:
        with pytest.raises(jsonlimits.JsonLimitError):
            jsonlimits.loads(text)
        return
    assert jsonlimits.loads(text) == expected
    assert jsonlimits.loads(text.encode("utf-16")) == expected


def test_loads_refuses_a_byte_order_mark_as_json_loads_does() -> None:
    with pytest.raises(json.JSONDecodeError):
        jsonlimits.loads("\ufeff{}")


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

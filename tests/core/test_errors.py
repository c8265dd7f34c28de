"""One error family, mapped once: each kind's status in JSON, in console HTML and in the CLI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import typer
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from openhotline.app import create_app
from openhotline.cli_support import domain_errors
from openhotline.config import Settings
from openhotline.errors import (
    HTTP_STATUS,
    ConflictError,
    DomainError,
    ErrorKind,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    RejectedError,
    UnauthenticatedError,
    UnavailableError,
)
from openhotline.migrate import upgrade

KINDS: dict[str, type[DomainError]] = {
    "not_found": NotFoundError,
    "conflict": ConflictError,
    "rejected": RejectedError,
    "invalid": InvalidError,
    "forbidden": ForbiddenError,
    "unauthenticated": UnauthenticatedError,
    "unavailable": UnavailableError,
}
EXPECTED = {
    "not_found": 404,
    "conflict": 409,
    "rejected": 400,
    "invalid": 422,
    "forbidden": 403,
    "unauthenticated": 401,
    "unavailable": 503,
}
# Browsers get 400 for any bad input; the 400/422 split is for API clients.
EXPECTED_HTML = {**EXPECTED, "invalid": 400}
MESSAGE = "<b>nothing</b> here & there"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """The real app (its real handlers) with one route per kind under /api, /console, /."""
    data = tmp_path_factory.mktemp("errors")
    url = f"sqlite:///{data}/e.db"
    upgrade(url)  # the app refuses an unmigrated database
    application = create_app(Settings(data_dir=data, database_url=url, public_rate_per_minute=0))

    def boom(kind: str) -> None:
        raise KINDS[kind](MESSAGE, ["field: problem"])

    for prefix in ("/api/v1/_test", "/console/_test", "/_test"):
        application.add_api_route(prefix + "/{kind}", boom, methods=["GET", "POST"])
    return application


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client on that app."""
    with TestClient(app) as c:
        yield c


def test_every_kind_has_a_status() -> None:
    assert set(HTTP_STATUS) == set(ErrorKind)
    assert {k: HTTP_STATUS[KINDS[k].kind] for k in KINDS} == EXPECTED


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_maps_to_its_status_in_json(client: TestClient, kind: str) -> None:
    r = client.get(f"/api/v1/_test/{kind}", headers={"Accept": "text/html"})
    assert r.status_code == EXPECTED[kind]
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {"error": MESSAGE, "detail": ["field: problem"]}
    # Outside /api and /console, a client that does not ask for HTML gets JSON too.
    other = client.get(f"/_test/{kind}", headers={"Accept": "application/json"})
    assert (other.status_code, other.json()["error"]) == (EXPECTED[kind], MESSAGE)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_maps_to_its_status_in_console_html(client: TestClient, kind: str) -> None:
    for method in ("GET", "POST"):
        r = client.request(method, f"/console/_test/{kind}")
        assert r.status_code == EXPECTED_HTML[kind]
        assert r.headers["content-type"].startswith("text/html")
        assert "&lt;b&gt;nothing&lt;/b&gt; here &amp; there" in r.text  # escaped, never raw
        assert "<b>nothing" not in r.text and '{"error"' not in r.text
        assert "field: problem" in r.text and 'href="/console/"' in r.text


def test_browsers_that_prefer_html_get_a_page(client: TestClient) -> None:
    r = client.get("/_test/not_found", headers={"Accept": "text/html,application/json;q=0.9"})
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "Not found" in r.text


def test_the_console_login_redirect_is_kept(client: TestClient) -> None:
    r = client.get("/console/", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/console/login")
    api = client.post("/api/v1/exports/cases/1/police", follow_redirects=False)
    assert api.status_code == 401 and api.json()["error"]
    # A form posted after the session ended: a page that says so (no redirect, no JSON).
    form = client.post("/console/items/1/claim", follow_redirects=False)
    assert form.status_code == 401 and form.headers["content-type"].startswith("text/html")
    assert "Log in first" in form.text


def test_the_cli_turns_a_domain_error_into_one_line_and_exit_1() -> None:
    cli = typer.Typer()

    @cli.command()
    def find(name: str) -> None:
        with domain_errors():
            raise NotFoundError(f"no bank named {name!r}", ["banks: own"])

    result = CliRunner().invoke(cli, ["partner-x"])
    assert result.exit_code == 1
    assert result.output.strip() == "error: no bank named 'partner-x' (banks: own)"

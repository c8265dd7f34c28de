"""Every numeric route parameter is bounded: 10**30 as an id is a 4xx, never an OverflowError."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from annotated_types import Le
from fastapi.testclient import TestClient
from pydantic import BaseModel

from openhotline.accounts.permissions import ROLE_PERMISSIONS
from openhotline.app import create_app
from openhotline.config import Settings
from openhotline.web.params import MAX_DB_ID
from tests.conftest import PARTNER_KEY
from tests.console_fixtures import Staff, login
from tests.web.routes import api_routes

HUGE = str(10**30)


def _dependants(route: Any) -> Iterator[Any]:
    stack = [route.dependant]
    while stack:
        dep = stack.pop()
        yield dep
        stack.extend(dep.dependencies)


def _is_int(annotation: object) -> bool:
    return annotation is int or "int" in re.findall(r"\w+", str(annotation))


def _upper_bound(metadata: list[object]) -> int | None:
    bounds = [m.le for m in metadata if isinstance(m, Le)]
    return int(bounds[0]) if bounds else None  # type: ignore[call-overload]


def _int_fields(route: Any) -> Iterator[tuple[str, str, list[object]]]:
    for dep in _dependants(route):
        for kind in ("path_params", "query_params", "body_params", "header_params"):
            for field in getattr(dep, kind):
                info = field.field_info
                if _is_int(info.annotation):
                    yield kind, field.name, list(info.metadata)
                model = info.annotation
                if isinstance(model, type) and issubclass(model, BaseModel):
                    for name, sub in model.model_fields.items():
                        if _is_int(sub.annotation):
                            yield f"{kind} {model.__name__}", name, list(sub.metadata)


def test_every_int_parameter_of_every_route_has_an_upper_bound(settings: Settings) -> None:
    app = create_app(settings)
    unbounded = []
    seen = 0
    for route in api_routes(app):
        for kind, name, metadata in _int_fields(route):
            seen += 1
            bound = _upper_bound(metadata)
            if bound is None or bound > MAX_DB_ID:
                unbounded.append(f"{sorted(route.methods)} {route.path} {kind} {name}")
    assert seen >= 30
    assert not unbounded, f"int parameters without a bound: {unbounded}"


def _int_path_routes(app: Any) -> list[tuple[str, str]]:
    out = []
    for route in api_routes(app):
        names = [n for k, n, _ in _int_fields(route) if k == "path_params"]
        if not names:
            continue
        path = route.path
        for name in names:
            path = path.replace("{" + name + "}", HUGE)
        path = re.sub(r"\{[^}]+\}", "1", path)
        for method in sorted(route.methods):
            out.append((method, path))
    return out


def test_huge_ids_in_every_path_are_refused_for_every_role(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    console_settings: Settings,
) -> None:
    routes = _int_path_routes(create_app(console_settings))
    assert len(routes) >= 30
    clients: dict[str, tuple[TestClient, str]] = {}
    for role in ROLE_PERMISSIONS:
        client = new_client()
        clients[role] = (client, login(client, make_user(f"huge-{role}", role)))
    partner = new_client()
    partner.headers["Authorization"] = f"Bearer {PARTNER_KEY}"
    clients["partner key"] = (partner, "")
    for who, (client, csrf) in clients.items():
        for method, path in routes:
            api, write = path.startswith("/api/"), method != "GET"
            response = client.request(
                method,
                path,
                data={"csrf_token": csrf} if write and not api else None,
                json={} if write and api else None,
                follow_redirects=False,
            )
            assert response.status_code < 500, (who, method, path, response.text[:200])
            if response.status_code not in (303, 401, 403):
                assert response.status_code in (404, 422), (who, method, path)

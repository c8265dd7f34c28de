"""Walk the whole route table: every route declares a permission, and each role is checked.

A route is public only if it is in permissions.PUBLIC_ROUTES; partner API routes authenticate
with a partner key instead. Every other route must depend on require(Permission.X), and for
each role the route answers 403 exactly when the role lacks X (401/303 without a session).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount

from openhotline.accounts.deps import Require
from openhotline.accounts.permissions import PUBLIC_ROUTES, ROLE_PERMISSIONS, Permission
from openhotline.app import create_app
from openhotline.config import Settings
from openhotline.partners.deps import partner_key
from tests.console_fixtures import Staff, login


def _flat_routes(app: FastAPI) -> list[Any]:
    """Every route with its effective path and dependencies (FastAPI >= 0.120 nests them)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def _dependency_calls(route: Any) -> Iterator[object]:
    stack = [route.dependant]
    while stack:
        dep = stack.pop()
        if dep.call is not None:
            yield dep.call
        stack.extend(dep.dependencies)


def _required(route: Any) -> list[Permission]:
    return [c.permission for c in _dependency_calls(route) if isinstance(c, Require)]


def _route_table(app: FastAPI) -> list[tuple[str, str, Any]]:
    out: list[tuple[str, str, Any]] = []
    for route in _flat_routes(app):
        original = getattr(route, "original_route", route)
        if isinstance(original, Mount):
            assert route.path == "/static", f"unexpected mount {route.path}"
            continue
        is_api = isinstance(original, APIRoute)
        assert is_api or route.path in {
            "/api/v1/openapi.json",
            "/api/docs",
            "/docs/oauth2-redirect",
        }, f"unknown kind of route {route.path}"
        methods = route.methods or {"GET"}
        for method in sorted(methods):
            out.append((method, route.path, route if is_api else None))
    return out


def test_every_route_declares_a_permission(settings: Settings) -> None:
    app = create_app(settings)
    undeclared = []
    for method, path, route in _route_table(app):
        if (method, path) in PUBLIC_ROUTES:
            if route is not None:
                assert not _required(route), f"{method} {path} is public but requires a permission"
            continue
        if route is None:
            undeclared.append(f"{method} {path}")
            continue
        calls = list(_dependency_calls(route))
        if partner_key in calls:
            continue
        if len(_required(route)) != 1:
            undeclared.append(f"{method} {path}")
    assert not undeclared, f"routes without a declared permission: {undeclared}"


def test_public_allow_list_has_no_stale_entries(settings: Settings) -> None:
    table = {(m, p) for m, p, _ in _route_table(create_app(settings))}
    assert table >= PUBLIC_ROUTES, PUBLIC_ROUTES - table


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_each_role_against_each_route(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    console_settings: Settings,
) -> None:
    app = create_app(console_settings)
    protected = [
        (m, p, _required(r)[0])
        for m, p, r in _route_table(app)
        if r is not None and (m, p) not in PUBLIC_ROUTES and _required(r)
    ]
    assert len(protected) >= 4
    anonymous = new_client()
    for method, path, _perm in protected:
        response = anonymous.request(method, _concrete(path), follow_redirects=False)
        assert response.status_code in (303, 401), f"anonymous {method} {path}"
    checked = 0
    for role, granted in ROLE_PERMISSIONS.items():
        client = new_client()
        csrf = login(client, make_user(f"u-{role}", role))
        for method, path, perm in protected:
            if path == "/console/logout":
                continue  # would end this role's session; covered by the login tests
            response = client.request(
                method,
                _concrete(path),
                data={"csrf_token": csrf} if method != "GET" else None,
                follow_redirects=False,
            )
            denied = response.status_code == 403 and "your role may not" in response.text
            if perm in granted:
                assert not denied, f"{role} refused {method} {path} ({perm})"
                assert response.status_code not in (401, 500), f"{role} {method} {path}"
            else:
                assert denied, f"{role} reached {method} {path} without {perm}"
            checked += 1
    assert checked >= len(ROLE_PERMISSIONS) * 3


def test_csrf_is_checked_on_every_state_changing_route(
    new_client: Callable[[], TestClient], make_user: Callable[..., Staff], settings: Settings
) -> None:
    app = create_app(settings)
    writes = [
        (m, p, _required(r)[0])
        for m, p, r in _route_table(app)
        if r is not None and m not in ("GET", "HEAD") and _required(r)
    ]
    clients: dict[str, TestClient] = {}
    for method, path, perm in writes:
        role = next(r for r, g in ROLE_PERMISSIONS.items() if perm in g)
        if role not in clients:
            clients[role] = new_client()
            login(clients[role], make_user(f"c-{role}", role))
        response = clients[role].request(
            method, _concrete(path), data={"csrf_token": "forged"}, follow_redirects=False
        )
        assert response.status_code == 403, f"{method} {path} accepted a forged CSRF token"
        assert "CSRF" in response.text


@pytest.mark.parametrize("role", sorted(ROLE_PERMISSIONS))
def test_roles_only_grant_known_permissions(role: str) -> None:
    assert ROLE_PERMISSIONS[role] <= set(Permission)

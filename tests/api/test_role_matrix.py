"""The role matrix: every route of the app, every role (anonymous, viewer, trader, admin).

Walks ``app.routes`` itself, so a new route is covered the day it is added, and fails on a
route that declares no access level. Requests carry an empty JSON body: access is decided
before the body is validated, so an allowed call answers anything but 401/403.
"""

from __future__ import annotations

import re
from typing import Any

import fastapi.routing
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute

from omegafarm.api import create_app
from omegafarm.api.auth import Access
from omegafarm.core.registry import ServiceRegistry
from omegafarm.security import Role
from tests.api.conftest import Farm

ROLES: list[Role | None] = [None, Role.VIEWER, Role.TRADER, Role.ADMIN]
PATH_VALUES = {
    "order_id": "o-1",
    "topic": "order-books",
    "term": "spread",
    "name": "nobody",
    "prefix": "000000000000",
    "bot_id": "bot-1",
}
QUERY_VALUES = {"symbol": "BTC/USDT", "q": "fibonacci"}


def _accesses(dependant: Dependant) -> list[Access]:
    found = [dependant.call] if isinstance(dependant.call, Access) else []
    return found + [a for d in dependant.dependencies for a in _accesses(d)]


def declared_access(route: APIRoute | APIWebSocketRoute) -> Access:
    """The route's one Access dependency (fails the test when there is none or several)."""
    accesses = _accesses(route.dependant)
    assert len(accesses) == 1, f"{route.path} declares {len(accesses)} access levels"
    return accesses[0]


def flat_routes(app: FastAPI) -> list[Any]:
    """``app.routes`` with included routers flattened (FastAPI >= 0.16x keeps them nested)."""
    if hasattr(fastapi.routing, "iter_route_contexts"):
        return [rc.route for rc in fastapi.routing.iter_route_contexts(app.routes)]
    return list(app.routes)


def all_routes() -> list[Any]:
    return flat_routes(create_app(ServiceRegistry([])))


def test_every_route_declares_exactly_one_access_level() -> None:
    routes = all_routes()
    assert len(routes) > 40
    for route in routes:
        assert isinstance(route, APIRoute | APIWebSocketRoute), f"undeclared route {route!r}"
        declared_access(route)


def test_policy_writes_need_trader_and_admin_paths_need_admin() -> None:
    viewer_writes = {"/api/v1/auth/logout", "/api/v1/education/progress"}
    for route in all_routes():
        access = declared_access(route)
        if route.path.startswith("/api/v1/admin"):
            assert access.role is Role.ADMIN, route.path
        if isinstance(route, APIRoute) and route.methods - {"GET", "HEAD"}:
            if route.path == "/api/v1/auth/login":
                assert access.role is None
            elif route.path in viewer_writes:
                assert access.role is Role.VIEWER
            else:
                assert access.role is not None and access.role >= Role.TRADER, route.path
        if access.role is None:
            assert route.path in {
                "/livez",
                "/readyz",
                "/health",
                "/metrics",
                "/openapi.json",
                "/docs",
                "/api/v1/auth/login",
                "/",
                "/dashboard/",
                "/dashboard/app.js",
                "/dashboard/style.css",
                "/dashboard/vendor/{name}",  # the vendored chart library, licence, version
            }, f"{route.path} is public"


def _url(route: APIRoute) -> str:
    path = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], route.path)
    required = [p.alias for p in route.dependant.query_params if p.field_info.is_required()]
    query = "&".join(f"{name}={QUERY_VALUES[name]}" for name in required)
    return f"{path}?{query}" if query else path


@pytest.mark.parametrize("caller", ROLES, ids=lambda r: "anonymous" if r is None else r.label)
async def test_every_route_answers_each_role_as_declared(farm: Farm, caller: Role | None) -> None:
    app: FastAPI = create_app(farm.registry)
    checked = 0
    async with farm.client(None if caller is None else caller.label) as http:
        for route in flat_routes(app):
            if not isinstance(route, APIRoute):
                continue
            needed = declared_access(route).role
            for method in sorted(route.methods - {"HEAD"}):
                body = {} if method in ("POST", "PATCH", "PUT") else None
                response = await http.request(method, _url(route), json=body)
                where = (
                    f"{caller} {method} {route.path}: {response.status_code} {response.text[:120]}"
                )
                if needed is None:
                    assert response.status_code not in (401, 403), where
                elif caller is None:
                    assert response.status_code == 401, where
                    assert response.headers["content-type"].startswith("application/problem+json")
                elif caller < needed:
                    assert response.status_code == 403, where
                else:
                    assert response.status_code not in (401, 403), where
                    assert response.status_code < 500 or response.status_code in (501, 503), where
                checked += 1
    assert checked > 40

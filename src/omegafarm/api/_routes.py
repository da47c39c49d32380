"""The app's route table, flattened (FastAPI >= 0.16x keeps included routers nested)."""

from __future__ import annotations

from typing import Any

import fastapi.routing
from starlette.types import ASGIApp


def flat_routes(app: ASGIApp) -> list[Any]:
    """Every route with its effective path, tags and dependencies."""
    routes = getattr(app, "routes", [])
    if hasattr(fastapi.routing, "iter_route_contexts"):
        return [context.route for context in fastapi.routing.iter_route_contexts(routes)]
    return list(routes)


def allowed_methods(app: ASGIApp, path: str) -> list[str]:
    """The methods some route serves at ``path`` (for a 405's ``Allow`` header)."""
    methods: set[str] = set()
    for route in flat_routes(app):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path) and getattr(route, "methods", None):
            methods.update(route.methods)
    return sorted(methods)

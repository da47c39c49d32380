"""The OpenAPI document: security schemes per operation and every error status it can answer.

FastAPI documents the happy path only. This walks the route table once and adds, per
operation: the security requirement its :class:`~omegafarm.api.auth.Access` level implies
(a bearer token or the session cookie, or none for public routes); and every status the
operation can answer besides success, each an ``application/problem+json`` document with the
``Problem`` schema (RFC 9457). Where the statuses come from:

- authenticated routes: 401 (no or bad credential), 403 (role too low, or a session write
  without its CSRF header), 429 (rate limit, with ``Retry-After``), 503 (security service
  not running);
- routes with parameters or a body: 422 (validation); with a body: 400 (not JSON at all)
  and 413 (too large);
- every route: 500 (an unexpected error; details stay in the server log);
- the service behind a route (by tag, from :data:`_TAG_STATUSES`): what its errors map to in
  :mod:`.problems` (404 unknown symbol/order/lesson, 409 conflict, 422 rejected by a rule the
  schema cannot express, 501 not supported, 502 the exchange failed, 503 not running);
- a few operations add their own (:data:`_OPERATION_STATUSES`).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from omegafarm.api._routes import flat_routes
from omegafarm.api.auth import SESSION_COOKIE, Access
from omegafarm.api.problems import PROBLEM_MEDIA_TYPE

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "instance"],
    "properties": {
        "type": {"type": "string", "description": "Always about:blank."},
        "title": {"type": "string", "description": "The status phrase."},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "What went wrong, for a human."},
        "instance": {"type": "string", "description": "The request path."},
    },
}
SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "omg_<prefix>_<secret>",
        "description": "An API token (omega tokens create, or POST /api/v1/admin/tokens).",
    },
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "The browser session from POST /api/v1/auth/login; unsafe methods "
        "also need the X-CSRF-Token header equal to the omega_csrf cookie.",
    },
}
_AUTHENTICATED = (401, 403, 429, 503)
_TAG_STATUSES: dict[str, tuple[int, ...]] = {
    "exchange": (404, 422, 501, 502, 503),
    "analysis": (404, 422, 501, 502, 503),
    "education": (404, 422, 503),
    "bots": (404, 409, 422, 501, 503),
    "admin": (404, 409, 422),
    "auth": (),
    "health": (),
}
_OPERATION_STATUSES: dict[tuple[str, str], tuple[int, ...]] = {
    ("POST", "/api/v1/auth/login"): (401, 429, 503),
    ("GET", "/readyz"): (503,),
    ("GET", "/health"): (503,),
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}
_WWW_AUTHENTICATE = {
    "WWW-Authenticate": {"description": "The scheme to use.", "schema": {"type": "string"}}
}


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The complete document for ``app`` (built once, then cached on the app)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    components["securitySchemes"] = SECURITY_SCHEMES
    for route in flat_routes(app):
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        access = _access(route.dependant)
        for method in sorted(route.methods or ()):
            operation = doc["paths"][route.path_format].get(method.lower())
            if operation is not None:
                _document(operation, route, method, access)
    app.openapi_schema = doc
    return doc


def _document(
    operation: dict[str, Any], route: APIRoute, method: str, access: Access | None
) -> None:
    authenticated = access is not None and access.role is not None
    operation["security"] = [{"bearer": []}, {"session": []}] if authenticated else []
    statuses: set[int] = {500}
    if authenticated:
        statuses.update(_AUTHENTICATED)
    dependant = route.dependant
    if _has_inputs(dependant):
        statuses.add(422)
    if dependant.body_params:
        statuses.update((400, 413))  # a body that is not JSON; one too large
    for tag in route.tags:
        statuses.update(_TAG_STATUSES.get(str(tag), ()))
    statuses.update(_OPERATION_STATUSES.get((method, route.path_format), ()))
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in sorted(statuses):
        key = str(status)
        if key in responses and status != 422:  # declared by the route itself (e.g. health)
            continue
        responses[key] = _problem_response(status)
    operation["responses"] = dict(sorted(responses.items()))


def _problem_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": HTTPStatus(status).phrase,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status in (429, 503):
        response["headers"] = _RETRY_AFTER if status == 429 else {}
    if status == 401:
        response["headers"] = _WWW_AUTHENTICATE
    if not response.get("headers"):
        response.pop("headers", None)
    return response


def _access(dependant: Dependant) -> Access | None:
    """The route's declared access level (the role-matrix test ensures there is one)."""
    for sub in dependant.dependencies:
        if isinstance(sub.call, Access):
            return sub.call
        found = _access(sub)
        if found is not None:
            return found
    return None


def _has_inputs(dependant: Dependant) -> bool:
    if dependant.path_params or dependant.query_params or dependant.body_params:
        return True
    if dependant.header_params or dependant.cookie_params:
        return True
    return any(_has_inputs(sub) for sub in dependant.dependencies)

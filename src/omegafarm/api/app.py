"""The FastAPI application: health, readiness, liveness and metrics for every service.

``/livez`` checks no dependency (a Redis outage must never get the process restarted);
``/readyz`` is 200 only when every service is ready; ``/health`` is the IETF draft
``application/health+json`` document (HTTP 503 when its status is ``fail``); ``/metrics`` is
the Prometheus text format.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from starlette.exceptions import HTTPException as StarletteHTTPException

from omegafarm import __version__
from omegafarm.core.health import HealthState, aggregate
from omegafarm.core.metrics import render_prometheus
from omegafarm.core.registry import ServiceRegistry

HEALTH_MEDIA_TYPE = "application/health+json"
PROBLEM_MEDIA_TYPE = "application/problem+json"


def create_app(
    registry: ServiceRegistry, *, metrics_registry: CollectorRegistry | None = None
) -> FastAPI:
    """The API for the services in ``registry``."""
    app = FastAPI(title="Omega Bot Farm", version=__version__)
    app.state.registry = registry
    _install_problem_handlers(app)

    @app.get("/livez", tags=["health"], summary="Liveness: the process answers")
    async def livez() -> dict[str, str]:
        return {"status": "pass"}

    @app.get("/readyz", tags=["health"], summary="Readiness: every service is ready")
    async def readyz() -> JSONResponse:
        reports = await registry.health()
        not_ready = {r.service: r.reason for r in reports if not r.ready}
        body: dict[str, Any] = {"status": "fail" if not_ready else "pass"}
        if not_ready:
            body["not_ready"] = not_ready
        return JSONResponse(body, status_code=503 if not_ready else 200)

    @app.get("/health", tags=["health"], summary="Health of every service (health+json)")
    async def health() -> JSONResponse:
        doc = aggregate(await registry.health())
        doc["version"] = __version__
        status = 503 if doc["status"] == HealthState.FAIL else 200
        return JSONResponse(doc, status_code=status, media_type=HEALTH_MEDIA_TYPE)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(render_prometheus(metrics_registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _problem(status: int, title: str, detail: str, instance: str) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE)


def _install_problem_handlers(app: FastAPI) -> None:
    """Errors become RFC 9457 problem details; no stack trace ever reaches a client."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _problem(exc.status_code, _title(exc.status_code), str(exc.detail), request.url.path)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return _problem(422, "Invalid request", "; ".join(parts), request.url.path)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        return _problem(
            500, "Internal error", "the server could not complete the request", request.url.path
        )


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"

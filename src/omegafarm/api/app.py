"""The FastAPI application: routes per service, health, metrics, docs and the WebSocket feed.

``/livez`` checks no dependency (a Redis outage must never get the process restarted);
``/readyz`` is 200 only when every service is ready; ``/health`` is the IETF draft
``application/health+json`` document (HTTP 503 when its status is ``fail``); ``/metrics`` is
the Prometheus text format. Every route declares its access level (see :mod:`.auth`); the
OpenAPI document (``/openapi.json``) and its browser (``/docs``) are public.
"""

from __future__ import annotations

import functools
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omegafarm import __version__
from omegafarm.api import dashboard, ws
from omegafarm.api._body_limit import BodyLimit
from omegafarm.api._fast import FastPaths, FastPathStats
from omegafarm.api._health import HealthMonitor
from omegafarm.api._local import LocalCache
from omegafarm.api._openapi import openapi_document
from omegafarm.api.auth import PUBLIC
from omegafarm.api.problems import PROBLEM_MEDIA_TYPE, install_problem_handlers
from omegafarm.api.routes import admin, analysis, bots, education, exchange, learn_html, session
from omegafarm.api.tracing import TracingMiddleware
from omegafarm.core.metrics import render_prometheus
from omegafarm.core.registry import ServiceRegistry

HEALTH_MEDIA_TYPE = "application/health+json"
__all__ = ["HEALTH_MEDIA_TYPE", "PROBLEM_MEDIA_TYPE", "create_app"]

_HEALTH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"type": "string", "enum": ["pass", "warn", "fail"]},
        "version": {"type": "string"},
        "checks": {"type": "object"},
        "notes": {"type": "array", "items": {"type": "string"}},
    },
}
_HEALTH_CONTENT = {HEALTH_MEDIA_TYPE: {"schema": _HEALTH_SCHEMA}}
_READY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"type": "string", "enum": ["pass", "fail"]},
        "not_ready": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
_READY_CONTENT = {"application/json": {"schema": _READY_SCHEMA}}


class HealthResponse(Response):
    """An ``application/health+json`` body (so the OpenAPI document names that type)."""

    media_type = HEALTH_MEDIA_TYPE


_SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
)


class SecurityHeaders:
    """Pure ASGI middleware adding defensive headers to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(
    registry: ServiceRegistry,
    *,
    metrics_registry: CollectorRegistry | None = None,
    ws_queue_size: int = ws.QUEUE_SIZE,
    max_body_bytes: int = 64 * 1024,
) -> FastAPI:
    """The API for the services in ``registry``."""
    app = FastAPI(
        title="Omega Bot Farm",
        version=__version__,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.registry = registry
    app.state.health_monitor = HealthMonitor(registry)
    app.state.ticker_local_cache = LocalCache(0.0)  # the ApiService sets its TTL
    app.state.feed_hub = ws.FeedHub(registry, queue_size=ws_queue_size)
    app.state.fast_path = FastPathStats()
    app.add_middleware(FastPaths, stats=app.state.fast_path)  # innermost of ours
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(TracingMiddleware)
    install_problem_handlers(app)
    app.openapi = functools.partial(openapi_document, app)  # type: ignore[method-assign]  # FastAPI's documented override
    _add_health_routes(app, registry, metrics_registry)
    for module in (session, exchange, analysis, education, learn_html, bots, admin):
        app.include_router(module.router)
    app.include_router(ws.router)
    app.include_router(dashboard.router)

    @app.get("/openapi.json", dependencies=[Depends(PUBLIC)], include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", dependencies=[Depends(PUBLIC)], include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Omega Bot Farm API")

    return app


def _add_health_routes(
    app: FastAPI, registry: ServiceRegistry, metrics_registry: CollectorRegistry | None
) -> None:
    public = [Depends(PUBLIC)]

    @app.get("/livez", tags=["health"], dependencies=public, summary="Liveness")
    async def livez() -> dict[str, str]:
        return {"status": "pass"}

    monitor: HealthMonitor = app.state.health_monitor

    @app.get("/readyz", tags=["health"], dependencies=public, summary="Every service is ready")
    async def readyz() -> Response:
        ready = (await monitor.current()).ready
        return Response(ready.body, status_code=ready.status, media_type="application/json")

    @app.get(
        "/health",
        tags=["health"],
        dependencies=public,
        summary="Health (health+json)",
        response_class=HealthResponse,
        responses={
            200: {"content": _HEALTH_CONTENT},
            503: {"description": "The farm's status is fail", "content": _HEALTH_CONTENT},
        },
    )
    async def health() -> Response:
        doc = (await monitor.current()).health
        return Response(doc.body, status_code=doc.status, media_type=HEALTH_MEDIA_TYPE)

    @app.get(
        "/metrics",
        tags=["health"],
        dependencies=public,
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> Response:
        return Response(render_prometheus(metrics_registry), media_type=CONTENT_TYPE_LATEST)

"""Tracing middleware: one server span per ``/api`` request, the root of an order's trace.

Pure ASGI (no ``BaseHTTPMiddleware``), so the span is the current one inside the route and
every span below it (Exchange Service, ccxt request) joins the same trace. A caller's W3C
``traceparent`` header is continued. Attributes: method, route template and status code; never
the query string, headers or body (they may hold tokens).
"""

from __future__ import annotations

from opentelemetry.trace import NoOpTracerProvider, SpanKind
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omegafarm.core.tracing import current_provider, extract, start_span

TRACED_PREFIX = "/api/"
_TRACER = "omegafarm.api"


class TracingMiddleware:
    """Wraps each ``/api/...`` HTTP request in a SERVER span."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if (
            scope["type"] != "http"
            or not path.startswith(TRACED_PREFIX)
            or isinstance(current_provider(), NoOpTracerProvider)  # tracing off: no wrapping
        ):
            await self.app(scope, receive, send)
            return
        headers = {
            key.decode("latin-1"): value.decode("latin-1")
            for key, value in scope.get("headers", [])
            if key in (b"traceparent", b"tracestate")
        }
        method = str(scope.get("method", "GET"))
        with start_span(
            f"HTTP {method}",
            tracer_name=_TRACER,
            kind=SpanKind.SERVER,
            context=extract(headers),
            attributes={"http.request.method": method},
        ) as span:

            async def send_traced(message: Message) -> None:
                if message["type"] == "http.response.start" and span.is_recording():
                    span.set_attribute("http.response.status_code", int(message["status"]))
                await send(message)

            try:
                await self.app(scope, receive, send_traced)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if isinstance(route, str) and span.is_recording():
                    span.set_attribute("http.route", route)
                    span.update_name(f"HTTP {method} {route}")

"""The cached ticker and the health probes answered from memory, without FastAPI's machinery.

Profiled in-process (cProfile over the ASGI app) and under wrk, a cached, authenticated
``GET /api/v1/exchange/ticker`` spent about two thirds of its time in FastAPI itself: matching
the path against the route table, solving the access dependency and the query parameters,
validating and serializing the returned dict, building the response, and the exception and
exit-stack layers around the router. The checks of our own (a credential from the process's
cache, a rate-limit unit reserved ahead, a ticker from the per-process copy) cost little.

:class:`FastPaths` is a pure ASGI middleware, the innermost of ours (inside tracing, the
security headers and the body limit, so those still apply), that answers the ticker route
when, and only when, it can answer exactly what the route would from memory:

- the security service runs, the request presents a credential (the same parsing as
  :func:`.auth.presented_credential`) that this process verified recently and nobody revoked
  since (:meth:`SecurityService.cached_principal`: the cache a revocation anywhere empties
  through Redis pub/sub), and its role allows the route's (viewer);
- the query string is exactly ``symbol=S`` with S matching the route's own pattern;
- the Exchange Service runs and this process holds a ticker for S it may serve
  (:meth:`LocalCache.peek`: fresh, or a little stale while one background read refreshes it);
- a rate-limit unit this process already reserved in Redis for the credential is left
  (:func:`.auth.take_reserved_unit`). This is the last check, so nothing is spent unless the
  fast path answers.

Anything else (no or an unknown, revoked or expired credential, a low role, another query, a
service not running, no ticker in memory, no reserved unit) falls through untouched to the
route, which does everything itself: verifies in SQLite, waits for Redis, answers the problem
document, audits. The answer is the same bytes the route serves (both send the body cached by
:func:`ticker_loader`), with the same headers. ``GET /health`` and ``/readyz`` (public) are
answered from the snapshot the background health task keeps, as their routes would; before
its first round they fall through too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import fastapi.routing
from fastapi import HTTPException
from fastapi.routing import APIRoute
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from omegafarm.api._health import HealthMonitor, Rendered, Snapshot
from omegafarm.api._local import LocalCache
from omegafarm.api._render import jsonable, service
from omegafarm.api.auth import presented_credential, rate_budget, take_reserved_unit
from omegafarm.api.routes._params import SYMBOL_PATTERN
from omegafarm.exchange import ExchangeService
from omegafarm.security import AuthenticationError, Role, SecurityService
from omegafarm.store import keys

TICKER_PATH = "/api/v1/exchange/ticker"
_SYMBOL = re.compile(SYMBOL_PATTERN)
_ROLE = Role.VIEWER  # the route's Depends(VIEWER); tests/api/test_fast_paths.py checks both
_JSON = b"application/json"
# /health and /readyz: the answers the background health task keeps (as their routes send them)
_PROBES: dict[str, tuple[bytes, Callable[[Snapshot], Rendered]]] = {
    "/health": (b"application/health+json", lambda snapshot: snapshot.health),
    "/readyz": (_JSON, lambda snapshot: snapshot.ready),
}


def ticker_key(exchange: ExchangeService, symbol: str) -> str:
    """The key of ``symbol``'s ticker in the per-process copy."""
    return f"{exchange.exchange_id}:{symbol}"


def ticker_loader(exchange: ExchangeService, symbol: str) -> Callable[[], Awaitable[bytes]]:
    """Reads the ticker from the Exchange Service (its shared cache) as the JSON the route
    sends, encoded once per read rather than once per request."""

    async def load() -> bytes:
        data: dict[str, Any] = jsonable(await exchange.fetch_ticker(symbol))
        return encode_json(data)

    return load


def encode_json(data: Any) -> bytes:
    """Compact UTF-8 JSON, as Starlette's JSONResponse renders it."""
    return json.dumps(
        data, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


@dataclass
class FastPathStats:
    """How many requests the fast path answered (tests check that it is the one taken)."""

    hits: int = 0


class FastPaths:
    """Answers a cached ticker request or a health probe from memory, or passes it on."""

    def __init__(self, app: ASGIApp, stats: FastPathStats) -> None:
        self.app = app
        self.stats = stats
        self._route: APIRoute | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path = scope["path"]
            if path == TICKER_PATH:
                body = self._answer(scope)
                if body is not None:
                    scope["route"] = self._ticker_route(scope)  # the span's name, as the route's
                    await self._send(send, 200, _JSON, body)
                    return
            elif path in _PROBES:
                monitor: HealthMonitor = scope["app"].state.health_monitor
                snapshot = monitor.snapshot if monitor.running else None
                if snapshot is not None:  # else the route (it waits for the first round)
                    media_type, answer = _PROBES[path]
                    rendered = answer(snapshot)
                    await self._send(send, rendered.status, media_type, rendered.body)
                    return
        await self.app(scope, receive, send)

    async def _send(self, send: Send, status: int, media_type: bytes, body: bytes) -> None:
        self.stats.hits += 1
        headers = [
            (b"content-length", str(len(body)).encode("latin-1")),
            (b"content-type", media_type),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _answer(self, scope: Scope) -> bytes | None:
        """The body to send, or None to let the route answer (every check in order; the
        rate-limit unit last, so a request that falls through has spent nothing here)."""
        conn = HTTPConnection(scope)
        try:
            security = service(conn, "security", SecurityService)
            exchange = service(conn, "exchange", ExchangeService)
            value, kind = presented_credential(conn)
        except (HTTPException, AuthenticationError):  # the route answers why
            return None
        principal = security.cached_principal(value, kind)
        if principal is None or not principal.allows(_ROLE):
            return None
        query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        if len(query) != 1 or query[0][0] != "symbol" or not _SYMBOL.fullmatch(query[0][1]):
            return None
        symbol = query[0][1]
        local: LocalCache = conn.app.state.ticker_local_cache
        body = local.peek(ticker_key(exchange, symbol), ticker_loader(exchange, symbol))
        if not isinstance(body, bytes):
            return None
        bucket = keys.api_bucket(principal.credential_id)
        if not take_reserved_unit(rate_budget(conn), security, bucket):
            return None
        return body

    def _ticker_route(self, scope: Scope) -> APIRoute | None:
        if self._route is None:
            for route in _flat_routes(scope["app"].routes):
                if isinstance(route, APIRoute) and route.path == TICKER_PATH:
                    self._route = route
        return self._route


def _flat_routes(routes: list[Any]) -> list[Any]:
    """Routes with included routers flattened (FastAPI >= 0.16x keeps them nested)."""
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    return routes if flatten is None else [context.route for context in flatten(routes)]

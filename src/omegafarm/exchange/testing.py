"""A loopback HTTP server that stands in for an exchange's REST API (tests and benchmarks).

It serves a fixed body for every request (how recorded ccxt responses are replayed), or scripted
replies that take precedence (faults: delays past the client's timeout, 429 with Retry-After,
5xx, malformed JSON), or whatever a custom handler answers (a tiny stateful exchange). Every
request is recorded. Point a service at it with ``ExchangeSettings(api_base_url=server.url)``.
Public because anyone writing a strategy test wants it too (like ``structlog.testing``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from omegafarm.exchange._loopback import LoopbackServer


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    body: str
    headers: dict[str, str]

    def param(self, name: str) -> str | None:
        """A parameter from the query string or a form-encoded/JSON body."""
        if name in self.query:
            return self.query[name]
        if self.body.startswith("{"):
            try:
                value = json.loads(self.body).get(name)
            except ValueError:
                return None
            return None if value is None else str(value)
        for pair in self.body.split("&"):
            key, _, value = pair.partition("=")
            if key == name:
                return value
        return None


@dataclass(frozen=True)
class Reply:
    """What to answer: status, body (str/bytes as is, anything else as JSON), headers, delay."""

    body: Any = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


Handler = Callable[[RecordedRequest], Awaitable[Reply]]


class LoopbackExchangeServer(LoopbackServer):
    """An aiohttp server on 127.0.0.1 with an ephemeral port; an async context manager."""

    def __init__(self, body: Any = "{}", handler: Handler | None = None) -> None:
        super().__init__()
        self.body = body
        self.handler = handler
        self.requests: list[RecordedRequest] = []
        self.script: deque[Reply] = deque()
        self._closing = asyncio.Event()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:43121``."""
        return f"http://127.0.0.1:{self._port}"

    def push(self, *replies: Reply) -> None:
        """Queue replies for the next requests, before the default body or handler."""
        self.script.extend(replies)

    def _routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._serve)

    def _closing_hook(self) -> None:
        """Release delayed replies."""
        self._closing.set()

    def count(self, method: str, path_suffix: str) -> int:
        """How many requests with ``method`` had a path ending in ``path_suffix``."""
        return sum(1 for r in self.requests if r.method == method and r.path.endswith(path_suffix))

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            body=await request.text(),
            headers=dict(request.headers),
        )
        self.requests.append(recorded)
        if self.script:
            reply = self.script.popleft()
        elif self.handler is not None:
            reply = await self.handler(recorded)
        else:
            reply = Reply(self.body)
        if reply.delay_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), timeout=reply.delay_s)
        body = reply.body
        if not isinstance(body, str | bytes):
            body = json.dumps(body)
        content_type = {"Content-Type": "application/json"}
        return web.Response(
            body=body.encode() if isinstance(body, str) else body,
            status=reply.status,
            headers={**content_type, **reply.headers},
        )

"""A small per-process cache in front of Redis for hot, short-lived reads (the ticker).

Under load every request to the cached ticker route paid a Redis round trip, and on a busy
machine that round trip costs more than the rest of the request. Each API process now reuses
what it read for ``ttl_s`` (a fraction of a second). When that runs out, one background task
reads Redis again while requests keep getting the previous value for at most another
``ttl_s`` (stale while revalidating): no request waits for Redis unless the value is older
than twice ``ttl_s``. So a ticker is at most the shared cache's TTL plus ``2 * ttl_s`` old.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

MAX_ENTRIES = 1024
_log = structlog.get_logger("omegafarm", service="api")


class LocalCache:
    """Values by key: fresh for ``ttl_s``, then served stale for ``ttl_s`` while refreshing."""

    def __init__(self, ttl_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[str, tuple[float, Any]] = {}  # key -> (fresh until, value)
        self._loading: dict[str, asyncio.Task[Any]] = {}

    async def get_or_load(self, key: str, loader: Callable[[], Awaitable[Any]]) -> Any:
        """The value for ``key``: cached, stale while one refresh runs, or loaded now."""
        if self.ttl_s <= 0:
            return await loader()
        found = self.peek(key, loader)
        if found is not None:
            return found
        task = self._loading.get(key) or self._start(key, loader)
        return await asyncio.shield(task)

    def peek(self, key: str, loader: Callable[[], Awaitable[Any]]) -> Any:
        """The value for ``key`` if it may be served now (fresh, or a little stale: then one
        background refresh is started), else None. Never waits."""
        if self.ttl_s <= 0:
            return None
        now_s = self._clock()
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now_s < entry[0]:
            return entry[1]
        if now_s >= entry[0] + self.ttl_s:
            return None  # too old to serve: the caller waits for a load
        if key not in self._loading:
            self._start(key, loader)
        return entry[1]  # a little stale: the refresh runs in the background

    def _start(self, key: str, loader: Callable[[], Awaitable[Any]]) -> asyncio.Task[Any]:
        task = asyncio.create_task(self._load(key, loader))
        self._loading[key] = task
        task.add_done_callback(lambda done: self._finished(key, done))
        return task

    def _finished(self, key: str, task: asyncio.Task[Any]) -> None:
        self._loading.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved: a failed background refresh was logged in _load

    async def _load(self, key: str, loader: Callable[[], Awaitable[Any]]) -> Any:
        try:
            value = await loader()
        except Exception as exc:  # waiters re-raise it; a background refresh only logs it
            _log.info("local_cache_refresh_failed", key=key, error_class=type(exc).__name__)
            raise
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (self._clock() + self.ttl_s, value)
        return value

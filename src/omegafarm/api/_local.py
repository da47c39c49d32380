"""A small per-process cache in front of Redis for hot, short-lived reads (the ticker).

Under load every request to the cached ticker route paid a Redis round trip, which on a busy
machine costs more than the rest of the request; each API process now reuses what it read
for ``ttl_s`` (a fraction of a second), so a ticker is at most the Redis TTL plus this old.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

MAX_ENTRIES = 1024


class LocalCache:
    """Values by key for ``ttl_s`` seconds (0: off)."""

    def __init__(self, ttl_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[str, tuple[float, Any]] = {}

    def get(self, key: str) -> Any | None:
        """The value stored under ``key`` less than ``ttl_s`` ago, else None."""
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def put(self, key: str, value: Any) -> None:
        """Keep ``value`` for ``ttl_s``."""
        if self.ttl_s <= 0:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (self._clock() + self.ttl_s, value)

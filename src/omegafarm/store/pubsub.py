"""Pub/sub subscriptions that survive a server restart.

A :class:`Subscription` owns one pub/sub connection. When the connection breaks (the server
was restarted, the network dropped), it backs off, opens a new connection, subscribes to the
same channels again and goes on yielding messages. Pub/sub is fire-and-forget: messages
published while no subscriber is connected are lost; use streams for what must not be lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable
from typing import Any, NamedTuple

import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from omegafarm.core.errors import StoreError
from omegafarm.store import codec
from omegafarm.store.keys import Keys

_log = structlog.get_logger("omegafarm", service="redis")


class Message(NamedTuple):
    """One pub/sub message: the relative channel name and the decoded value."""

    channel: str
    data: Any


class Subscription:
    """An async iterator of :class:`Message` over a set of channels, reconnecting as needed."""

    def __init__(
        self,
        redis_factory: Callable[[], Redis],
        keys: Keys,
        *,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._redis_factory = redis_factory
        self._keys = keys
        self._channels: set[str] = set()
        self._pubsub: PubSub | None = None
        self._names: dict[bytes | str, str] = {}
        self._max_backoff_s = max_backoff_s
        self._closed = False
        self.reconnects = 0

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self._channels)

    @property
    def closed(self) -> bool:
        """Closed (by :meth:`close` or the client's disconnect): no message will come."""
        return self._closed

    async def subscribe(self, *channels: str) -> None:
        """Add channels (relative names)."""
        new = [c for c in channels if c not in self._channels]
        self._channels.update(channels)
        if new and self._pubsub is not None:
            await self._pubsub.subscribe(*(self._keys.channel(c) for c in new))
        elif new:
            await self._connect()

    async def unsubscribe(self, *channels: str) -> None:
        """Drop channels."""
        self._channels.difference_update(channels)
        if self._pubsub is not None and channels:
            await self._pubsub.unsubscribe(*(self._keys.channel(c) for c in channels))

    async def close(self) -> None:
        """Close the connection; iteration ends."""
        self._closed = True
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            self._pubsub = None

    async def get(self, timeout_s: float | None = None) -> Message | None:
        """The next message, or None after ``timeout_s`` without one."""
        if not self._channels:
            raise StoreError("subscribe to at least one channel before reading messages")
        loop = asyncio.get_running_loop() if timeout_s is not None else None
        deadline = None if loop is None or timeout_s is None else loop.time() + timeout_s
        while not self._closed:
            if self._pubsub is None:
                await self._reconnect()
                continue
            remaining = (
                None if loop is None or deadline is None else max(0.0, deadline - loop.time())
            )
            try:
                raw = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=remaining
                )
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                _log.warning("subscription_lost", error=str(exc), channels=sorted(self._channels))
                await self._drop()
                continue
            if raw is not None and raw["type"] == "message":
                return Message(self._relative(raw["channel"]), codec.decode(raw["data"]))
            if loop is not None and deadline is not None and loop.time() >= deadline:
                return None
        return None

    def _relative(self, channel: bytes | str) -> str:
        name = self._names.get(channel)
        if name is None:
            text = channel.decode() if isinstance(channel, bytes) else channel
            name = self._keys.relative(text).removeprefix("chan:")
            self._names[channel] = name
        return name

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Message]:
        while not self._closed:
            message = await self.get()
            if message is not None:
                yield message

    async def _connect(self) -> None:
        pubsub = self._redis_factory().pubsub()
        if self._channels:
            await pubsub.subscribe(*(self._keys.channel(c) for c in self._channels))
        self._pubsub = pubsub

    async def _drop(self) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):  # the connection is already broken
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            self._pubsub = None

    async def _reconnect(self) -> None:
        backoff_s = 0.05
        while not self._closed:
            try:
                await self._connect()
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                await self._drop()
                delay = backoff_s * (0.5 + random.random())  # noqa: S311  # jitter, not crypto
                _log.info(
                    "subscription_reconnect_failed", error=str(exc), retry_in_s=round(delay, 3)
                )
                await asyncio.sleep(delay)
                backoff_s = min(backoff_s * 2, self._max_backoff_s)
                continue
            self.reconnects += 1
            _log.info("subscription_restored", channels=sorted(self._channels))
            return

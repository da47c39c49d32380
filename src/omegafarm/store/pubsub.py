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
import types
from collections.abc import AsyncIterator, Callable
from typing import Any, NamedTuple

import structlog
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from omegafarm.core.errors import StoreError, StoreUnavailableError
from omegafarm.store import codec
from omegafarm.store.errors import connection_torn_down
from omegafarm.store.keys import Keys

_log = structlog.get_logger("omegafarm", service="redis")


class Message(NamedTuple):
    """One pub/sub message: the relative channel name and the decoded value."""

    channel: str
    data: Any


class Subscription:
    """An async iterator of :class:`Message` over a set of channels, reconnecting as needed.

    ``channels`` is the wanted set and the only truth: :meth:`subscribe` and
    :meth:`unsubscribe` change it at once, whatever the connection is doing, and every
    (re)connection ends subscribed to exactly that set, also when it changed while the
    connection was being rebuilt (a message of a channel no longer wanted is never returned).
    An empty set is a normal state: reading then idles (returns None after the timeout)
    instead of failing. redis-py errors never leave this class
    untranslated: a lost connection is retried, anything else is a ``StoreError``.
    """

    def __init__(
        self,
        redis_factory: Callable[[], Any],
        keys: Keys,
        *,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._redis_factory = redis_factory
        self._keys = keys
        self._channels: set[str] = set()
        self._active: set[str] = set()  # subscribed on the current connection
        self._pubsub: PubSub | None = None
        self._lock = asyncio.Lock()  # one connection change at a time
        self._changed = asyncio.Event()  # the wanted set gained a channel
        self._names: dict[bytes | str, str] = {}
        self._max_backoff_s = max_backoff_s
        self._closed = False
        self.reconnects = 0

    @property
    def channels(self) -> frozenset[str]:
        """The wanted channels (relative names)."""
        return frozenset(self._channels)

    @property
    def closed(self) -> bool:
        """Closed (by :meth:`close` or the client's disconnect): no message will come."""
        return self._closed

    async def subscribe(self, *channels: str) -> None:
        """Add channels (relative names); connects now so no message published after is missed.

        If the server cannot be reached the channels stay wanted and the next read subscribes
        them once it can; the error is raised as ``StoreUnavailableError``.
        """
        if not set(channels) - self._channels:
            return
        self._channels.update(channels)
        self._changed.set()
        await self._sync(connect=True)

    async def unsubscribe(self, *channels: str) -> None:
        """Drop channels (dropping the last one leaves an idle, valid subscription).

        Never fails for want of a server: the connection is then dropped, and the next read
        reconnects to whatever is wanted at that time.
        """
        if not set(channels) & self._channels:
            return
        self._channels.difference_update(channels)
        with contextlib.suppress(StoreUnavailableError):  # _sync dropped the connection
            await self._sync(connect=False)

    async def close(self) -> None:
        """Close the connection; iteration ends."""
        self._closed = True
        self._changed.set()
        await self._drop()

    async def get(self, timeout_s: float | None = None) -> Message | None:
        """The next message, or None after ``timeout_s`` without one (or once closed)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        while not self._closed:
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            if not self._channels:  # idle: wait for a channel (or the timeout)
                self._changed.clear()
                if not self._channels:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), timeout=remaining)
            elif self._pubsub is None or self._active != self._channels:
                await self._reconnect(deadline)
                if self._pubsub is None and deadline is not None and loop.time() >= deadline:
                    return None  # still unreachable at the deadline
                continue
            else:
                message = await self._read(self._pubsub, remaining)
                if message is not None:
                    return message
            if deadline is not None and loop.time() >= deadline:
                return None
        return None

    async def _read(self, pubsub: PubSub, timeout_s: float | None) -> Message | None:
        try:
            raw = await pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout_s)
        except (
            RedisConnectionError,
            RedisTimeoutError,
            OSError,
            RuntimeError,
            AttributeError,
            TypeError,
        ) as exc:
            # RuntimeError: redis-py's "pubsub connection not set" when the connection was
            # released under us (every channel dropped, or the pool reset it); Attribute/Type
            # error: a socket closed under redis-py (redis/redis-py#4287): rebuild it.
            if isinstance(exc, AttributeError | TypeError) and not connection_torn_down(exc):
                raise
            _log.warning("subscription_lost", error=str(exc), channels=sorted(self._channels))
            await self._drop()
            return None
        except RedisError as exc:
            raise StoreError(f"redis pub/sub read failed: {exc}") from None
        if raw is None or raw["type"] != "message":
            return None
        channel = self._relative(raw["channel"])
        if channel not in self._channels:
            # redis-py reconnects by itself on a quick restart and re-subscribes what it still
            # counts as subscribed, which may include a channel dropped just before: drop it
            # again, and never hand out a message of a channel nobody wants any more.
            with contextlib.suppress(StoreError):
                await self._unwanted(channel)
            return None
        return Message(channel, codec.decode(raw["data"]))

    async def _unwanted(self, channel: str) -> None:
        async with self._lock:
            if self._pubsub is None or channel in self._channels:
                return
            try:
                await self._pubsub.unsubscribe(self._keys.channel(channel))
            except (RedisError, OSError) as exc:
                raise StoreError(f"redis unsubscribe failed: {exc}") from None

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

    async def _sync(self, *, connect: bool) -> None:
        """Make the connection's channel set equal the wanted set (opening it if asked)."""
        async with self._lock:
            if self._closed:
                return
            if self._pubsub is None and not (connect and self._channels):
                return  # the next read connects, to whatever is wanted then
            try:
                await self._apply()
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                await self._drop_locked()
                raise StoreUnavailableError(f"redis unreachable during subscribe: {exc}") from None
            except RedisError as exc:
                await self._drop_locked()
                raise StoreError(f"redis subscribe failed: {exc}") from None

    async def _apply(self) -> None:
        """Under the lock: (connect and) subscribe/unsubscribe until active == wanted."""
        if self._pubsub is None:
            self._pubsub = self._redis_factory().pubsub()
            self._count_own_reconnects(self._pubsub)
            self._active = set()
        pubsub = self._pubsub
        while self._active != self._channels:  # the wanted set may change while we await
            wanted = set(self._channels)
            new, gone = wanted - self._active, self._active - wanted
            if new:
                await pubsub.subscribe(*(self._keys.channel(c) for c in sorted(new)))
            if gone:
                await pubsub.unsubscribe(*(self._keys.channel(c) for c in sorted(gone)))
            self._active = (self._active | new) - gone

    def _count_own_reconnects(self, pubsub: PubSub) -> None:
        """Count the reconnects redis-py makes by itself too: on a quick server restart or a
        killed connection it reconnects inside a read and subscribes again, so no error
        reaches us, yet what was published meanwhile is lost all the same. Its hook for that
        is the pubsub's ``on_connect``, which this wraps for this one pubsub: a connection
        made while the pubsub already holds channels is a reconnect."""
        resubscribe = pubsub.on_connect

        async def on_connect(_pubsub: PubSub, connection: Any) -> None:
            if pubsub.channels:
                self.reconnects += 1
                _log.info("subscription_restored", channels=sorted(self._channels), by="redis-py")
            await resubscribe(connection)

        # a bound method: redis-py keeps connect callbacks as weak methods
        setattr(pubsub, "on_connect", types.MethodType(on_connect, pubsub))  # noqa: B010

    async def _drop(self) -> None:
        async with self._lock:
            await self._drop_locked()

    async def _drop_locked(self) -> None:
        pubsub, self._pubsub, self._active = self._pubsub, None, set()
        if pubsub is not None:
            with contextlib.suppress(RedisError, OSError, RuntimeError):  # already broken
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated

    async def _reconnect(self, deadline: float | None = None) -> None:
        """Connect (or re-sync) to exactly the wanted channels, backing off while unreachable
        (until the loop time ``deadline``, if given)."""
        backoff_s = 0.05
        had_connection = self._pubsub is not None
        loop = asyncio.get_running_loop()
        while not self._closed and self._channels:
            try:
                await self._sync(connect=True)
            except StoreUnavailableError as exc:
                delay = backoff_s * (0.5 + random.random())  # noqa: S311  # jitter, not crypto
                if deadline is not None:
                    if loop.time() >= deadline:
                        return
                    delay = min(delay, max(0.0, deadline - loop.time()))
                _log.info("subscription_reconnect_failed", error=str(exc),
                          retry_in_s=round(delay, 3))  # fmt: skip
                await asyncio.sleep(delay)
                backoff_s = min(backoff_s * 2, self._max_backoff_s)
                continue
            if not had_connection:
                self.reconnects += 1
                _log.info("subscription_restored", channels=sorted(self._channels))
            return

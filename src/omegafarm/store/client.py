"""RedisClient: state, cache, pub/sub, streams and the shared rate limit on a real Redis server.

With ``redis.url`` unset it starts the embedded Valkey server (see :mod:`.embedded`);
otherwise it connects to any Redis or Valkey URL (``rediss://`` for TLS), a Sentinel group or
a Cluster (see :mod:`._connect`). Names passed to its methods are relative: they are prefixed
with the farm namespace (see :mod:`.keys`). Values go through the codec (see :mod:`.codec`).
redis-py errors are translated in one place (:func:`.errors.translate`): connection problems
become ``StoreUnavailableError`` (transient), MOVED/CROSSSLOT ``StoreConfigurationError``,
READONLY and cluster-down ``StoreFailoverError`` (transient), the rest ``StoreError``.

Nothing outside ``store/`` touches a redis-py object: callers get what they need as methods
(scripts through :meth:`RedisClient.script`, :meth:`RedisClient.scan`, ...), so the one
translating call path, the key scheme and the connection kind stay this package's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import UnixDomainSocketConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from omegafarm.core.errors import StoreError
from omegafarm.core.health import Check, Health, HealthState
from omegafarm.core.service import BaseService
from omegafarm.store import _connect, codec
from omegafarm.store.config import RedisSettings
from omegafarm.store.embedded import EmbeddedRedis
from omegafarm.store.errors import connection_torn_down, translate
from omegafarm.store.keys import Keys
from omegafarm.store.pubsub import Message, Subscription
from omegafarm.store.scripts import Script, ScriptCommands
from omegafarm.store.streams import StreamCommands, StreamMessage

__all__ = ["RedisClient", "Script", "StreamMessage"]

T = TypeVar("T")
_MISSING = object()


class RedisClient(StreamCommands, ScriptCommands, BaseService[RedisSettings]):
    """The Redis Client Service (streams in :mod:`.streams`, scripts and the rate limit in
    :mod:`.scripts`, all through the one call path of :mod:`._calls`)."""

    name = "redis"

    def __init__(
        self, settings: RedisSettings, *, metrics_registry: CollectorRegistry | None = None
    ) -> None:
        super().__init__(settings, metrics_registry=metrics_registry)
        self.keys = Keys(settings.farm)
        self._redis: Redis | RedisCluster | None = None
        self._embedded: EmbeddedRedis | None = None
        self._default_sub: Subscription | None = None
        self._subs: set[Subscription] = set()
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self._scripts = {}
        self._ratelimit_keys = {}
        self._ratelimit_args = {}

    # ------------------------------------------------------------------ lifecycle
    async def _on_initialize(self) -> None:
        await self.connect()

    async def _on_shutdown(self) -> None:
        await self.disconnect()

    async def connect(self) -> None:
        """Open the pool (starting the embedded server first when no URL is configured)."""
        if self._redis is not None:
            return
        s = self.settings
        retry = Retry(ExponentialBackoff(cap=s.reconnect_max_backoff_s, base=0.05), retries=3)
        common: dict[str, Any] = {
            "max_connections": s.max_connections,
            "socket_timeout": s.socket_timeout_s,
            "socket_connect_timeout": s.connect_timeout_s,
            "retry": retry,
            "retry_on_error": [RedisConnectionError, RedisTimeoutError, OSError],
            "health_check_interval": 30,
            "timeout": s.socket_timeout_s,
        }
        if s.url is None and not s.sentinels:
            self._embedded = EmbeddedRedis(s.data_dir, start_timeout_s=s.start_timeout_s)
            address = await self._embedded.start()
            where: dict[str, Any] = {
                "connection_class": UnixDomainSocketConnection,
                "path": str(address.socket_path),
                "password": address.password,
            }
            self._redis = Redis.from_pool(_connect.QuickBlockingPool(**where, **common))
        else:
            self._redis = _connect.build(s, common)
        try:
            await self._call("ping", self._redis.ping())
        except StoreError:
            await self.disconnect()
            raise
        self.log_activity("redis_connected", topology=s.topology)

    async def disconnect(self) -> None:
        """Close subscriptions and the pool; stop the embedded server we own."""
        for sub in list(self._subs):
            await sub.close()
        self._subs.clear()
        self._default_sub = None
        if self._redis is not None:
            with contextlib.suppress(RedisError, RedisClusterException, OSError):
                await _connect.close(self._redis)
            self._redis = None
        if self._embedded is not None:
            await self._embedded.stop()
            self._embedded = None

    @property
    def embedded(self) -> EmbeddedRedis | None:
        """The embedded server, when this client started (or adopted) one."""
        return self._embedded

    # ------------------------------------------------------------------ key/value
    async def get(self, key: str) -> Any:
        """The value at ``key``, or None when absent."""
        raw = await self._call("get", self._raw.get(self.keys.key(key)))
        return None if raw is None else codec.decode(raw)

    async def set(self, key: str, value: Any, ttl_s: float | None = None) -> None:
        """Store ``value`` at ``key`` (expiring after ``ttl_s`` seconds if given)."""
        px = None if ttl_s is None else max(1, int(ttl_s * 1000))
        await self._call("set", self._raw.set(self.keys.key(key), codec.encode(value), px=px))

    async def delete(self, *keys: str) -> int:
        """Delete keys; returns how many existed."""
        return int(await self._call("delete", self._raw.delete(*(self.keys.key(k) for k in keys))))

    async def get_text(self, key: str) -> str | None:
        """The raw text at ``key`` (a value a script wrote, not the codec), or None."""
        raw = await self._call("get", self._raw.get(self.keys.key(key)))
        return None if raw is None else raw.decode() if isinstance(raw, bytes) else str(raw)

    async def exists(self, *keys: str) -> int:
        """How many of ``keys`` exist."""
        return int(await self._call("exists", self._raw.exists(*(self.keys.key(k) for k in keys))))

    async def ttl_s(self, key: str) -> float | None:
        """Seconds ``key`` has left (None: no expiry or no key)."""
        ms = int(await self._call("pttl", self._raw.pttl(self.keys.key(key))))
        return None if ms < 0 else ms / 1000

    async def scan(self, prefix: str, *, count: int = 500) -> list[str]:
        """Relative names of every key whose relative name starts with ``prefix``."""
        found = await self._call(
            "scan", _collect(self._raw.scan_iter(match=self.keys.pattern(prefix), count=count))
        )
        return [self.keys.relative(k.decode() if isinstance(k, bytes) else k) for k in found]

    @property
    def is_cluster(self) -> bool:
        """A Redis Cluster: a multi-key command or script must stay within one slot."""
        return isinstance(self._raw, RedisCluster)

    async def get_many(self, keys: Sequence[str], *, text: bool = False) -> list[Any]:
        """The values at ``keys`` (None where absent), in one MGET (one per slot on a cluster);
        ``text``: the raw text (values a script wrote) instead of the codec's value."""
        if not keys:
            return []
        full = [self.keys.key(k) for k in keys]
        redis = self._raw
        if isinstance(redis, RedisCluster):
            raws = await self._call("mget", redis.mget_nonatomic(full))
        else:
            raws = await self._call("mget", redis.mget(full))
        if text:
            return [None if r is None else r.decode() if isinstance(r, bytes) else str(r)
                    for r in raws]  # fmt: skip
        return [None if raw is None else codec.decode(raw) for raw in raws]

    async def members_by_score(self, key: str, min_score: float) -> list[str]:
        """Members of the sorted set at ``key`` scored ``min_score`` or more (ZRANGEBYSCORE)."""
        found = await self._call(
            "zrangebyscore", self._raw.zrangebyscore(self.keys.key(key), min_score, "+inf")
        )
        return [m.decode() if isinstance(m, bytes) else str(m) for m in found]

    async def set_if_absent(self, key: str, value: Any, ttl_s: float | None = None) -> bool:
        """Store only if ``key`` does not exist; True if stored."""
        px = None if ttl_s is None else max(1, int(ttl_s * 1000))
        ok = await self._call(
            "set", self._raw.set(self.keys.key(key), codec.encode(value), px=px, nx=True)
        )
        return bool(ok)

    async def scan_keys(self, match: str, *, count: int = 500) -> list[str]:
        """Relative names of this farm's keys matching the glob ``match``, sorted.

        On a cluster every primary is scanned (redis-py's cluster ``scan_iter``), so callers
        never see one node only.
        """
        pattern = self.keys.key(match)

        async def collect() -> list[Any]:
            return [k async for k in self._raw.scan_iter(match=pattern, count=count)]

        found = await self._call("scan", collect())
        return sorted(
            self.keys.relative(k.decode() if isinstance(k, bytes) else str(k)) for k in found
        )

    # ------------------------------------------------------------------ cache
    async def get_or_set(
        self,
        key: str,
        loader: Callable[[], Awaitable[T]],
        ttl_s: float,
        *,
        lock_ttl_s: float = 30.0,
    ) -> T:
        """The cached value, or the loader's (cached for ``ttl_s``): one loader call per miss.

        Callers in this process share one in-flight load; other processes wait on a Redis lock
        held by the process that loads, then read its result.
        """
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)  # same key, same T
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            cache_key = self.keys.cache(key)
            raw = await self._call("get", self._raw.get(cache_key))
            if raw is not None:
                value: T = codec.decode(raw)
            else:
                lock_key = self.keys.cache_lock(key)
                value = await self._load_once(cache_key, lock_key, loader, ttl_s, lock_ttl_s)
            future.set_result(value)
            return value
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._inflight[key]

    async def _load_once(
        self,
        cache_key: str,
        lock_key: str,
        loader: Callable[[], Awaitable[T]],
        ttl_s: float,
        lock_ttl_s: float,
    ) -> T:
        token = secrets.token_hex(8)
        deadline = time.monotonic() + lock_ttl_s
        while True:
            if await self._call(
                "set", self._raw.set(lock_key, token, nx=True, px=int(lock_ttl_s * 1000))
            ):
                try:
                    raw = await self._call("get", self._raw.get(cache_key))
                    if raw is not None:  # another process loaded it between our get and our lock
                        return codec.decode(raw)  # type: ignore[no-any-return]  # stored here
                    value = await loader()
                    await self._call(
                        "set",
                        self._raw.set(cache_key, codec.encode(value), px=max(1, int(ttl_s * 1000))),
                    )
                    return value
                finally:
                    await self._call("delete", self._raw.delete(lock_key))
            raw = await self._call("get", self._raw.get(cache_key))
            if raw is not None:
                return codec.decode(raw)  # type: ignore[no-any-return]  # stored by this method
            if time.monotonic() > deadline:
                return await loader()
            await asyncio.sleep(0.01)

    # ------------------------------------------------------------------ pub/sub
    async def publish(self, channel: str, message: Any) -> int:
        """Publish to a channel; returns the number of subscribers that received it."""
        return int(
            await self._call(
                "publish", self._raw.publish(self.keys.channel(channel), codec.encode(message))
            )
        )

    async def publish_many(self, channel: str, messages: list[Any]) -> None:
        """Publish several messages in one round trip (a pipeline), in order.

        A cluster client refuses PUBLISH in a pipeline, so there they go one by one (a cluster
        delivers each to the subscribers of every node).
        """
        full = self.keys.channel(channel)
        redis = self._raw
        if isinstance(redis, RedisCluster):
            for message in messages:
                await self._call("publish", redis.publish(full, codec.encode(message)))
            return
        pipe = redis.pipeline(transaction=False)
        for message in messages:
            pipe.publish(full, codec.encode(message))
        await self._call("publish", pipe.execute())

    def subscription(self) -> Subscription:
        """A new independent subscription (its own connection)."""
        sub = Subscription(
            lambda: self._raw, self.keys, max_backoff_s=self.settings.reconnect_max_backoff_s
        )
        self._subs.add(sub)
        return sub

    async def subscribe(self, *channels: str) -> Subscription:
        """Subscribe the client's default subscription (read it with :meth:`listen`)."""
        if self._default_sub is None:
            self._default_sub = self.subscription()
        await self._default_sub.subscribe(*channels)
        return self._default_sub

    async def listen(self) -> AsyncIterator[Message]:
        """Messages of the default subscription, forever (survives server restarts)."""
        if self._default_sub is None:
            raise StoreError("call subscribe(channel) before listen()")
        async for message in self._default_sub:
            yield message

    # ------------------------------------------------------------------ health, errors
    async def _check_health(self) -> Health:
        start = time.perf_counter()
        try:
            await asyncio.wait_for(self._raw.ping(), timeout=self.settings.socket_timeout_s)
        except (RedisError, RedisClusterException, OSError, TimeoutError, StoreError) as exc:
            error = translate(exc, "ping")
            return Health(self.name, live=True, ready=False, reason=str(error))
        except (AttributeError, TypeError) as exc:  # a socket closed under redis-py's write
            if not connection_torn_down(exc):
                raise
            error = translate(exc, "ping")
            return Health(self.name, live=True, ready=False, reason=str(error))
        latency_ms = (time.perf_counter() - start) * 1000
        check = Check("redis", "responseTime", HealthState.PASS, round(latency_ms, 3), "ms")
        where = {"embedded": "embedded valkey", "standalone": "external server"}.get(
            self.settings.topology, f"{self.settings.topology} (external)"
        )
        return Health(self.name, live=True, ready=True, reason=f"{where} answers", checks=(check,))

    def _extra_metrics(self) -> dict[str, Any]:
        return {
            "embedded": self._embedded is not None,
            "topology": self.settings.topology,
            "embedded_restarts": self._embedded.restarts if self._embedded else 0,
            "subscription_reconnects": sum(s.reconnects for s in self._subs),
        }


async def _collect(items: AsyncIterator[T]) -> list[T]:
    return [item async for item in items]

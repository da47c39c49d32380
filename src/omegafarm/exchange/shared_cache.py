"""Market data shared by the farm through Redis: markets and tickers, loaded once for everyone.

Every process of a farm that talks to the same venue reads markets and tickers through one
Redis cache (:meth:`RedisClient.get_or_set`): on a miss exactly one loader runs farm-wide, the
others wait for its result, so N bots in N processes asking for the same ticker at once cost
the exchange one request. Names live under the farm namespace
(``omega:<farm>:cache:exchange:<venue>:...``, built by
:func:`omegafarm.store.keys.exchange_cache`).

If Redis cannot be reached the cache steps aside: every call goes to the exchange directly, the
problem is reported in :attr:`SharedMarketData.degraded_reason` (and so in the service's
``health()``), and Redis is tried again after ``retry_redis_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from omegafarm.core.errors import StoreError
from omegafarm.core.supervisor import Supervisor
from omegafarm.exchange.config import ExchangeSettings
from omegafarm.exchange.fallback import RedisFallback
from omegafarm.store import RedisClient, keys

T = TypeVar("T")


class SharedMarketData:
    """Redis get-or-load with farm-wide single flight, and a direct path when Redis is away."""

    def __init__(
        self,
        redis: RedisClient | None,
        venue: str,
        *,
        lock_ttl_s: float = 15.0,
        retry_redis_s: float = 5.0,
    ) -> None:
        self._redis = redis
        self.venue = venue
        self._lock_ttl_s = lock_ttl_s
        self._fallback = RedisFallback(
            retry_redis_s=retry_redis_s,
            reason=lambda problem: (
                f"market data cache: Redis unreachable, asking the exchange: {problem}"
            ),
            degraded_event="market_data_cache_degraded",
            recovered_event="market_data_cache_shared_again",
            venue=venue,
        )
        self.hits = 0
        self.loads = 0
        self.bypassed = 0

    @property
    def degraded_reason(self) -> str:
        """Why the cache is stepping aside ("" while Redis answers)."""
        return self._fallback.reason

    @property
    def enabled(self) -> bool:
        """True when a Redis client was given (the cache may still be degraded)."""
        return self._redis is not None

    def key(self, kind: str, *parts: object) -> str:
        """The relative cache name of ``kind`` (``markets``, ``ticker``...) for this venue."""
        return keys.exchange_cache(self.venue, kind, *parts)

    async def get_or_load(self, key: str, loader: Callable[[], Awaitable[T]], ttl_s: float) -> T:
        """The cached value at ``key`` or the loader's (shared for ``ttl_s``): one load a miss.

        The loader's own errors pass through untouched; only Redis failures are absorbed.
        """
        redis = self._redis
        if redis is None or not self._fallback.use_redis():
            self.bypassed += 1
            return await loader()
        outcome: list[T] = []

        async def load() -> T:
            self.loads += 1
            value = await loader()
            outcome.append(value)
            return value

        try:
            value = await redis.get_or_set(key, load, ttl_s, lock_ttl_s=self._lock_ttl_s)
        except StoreError as exc:
            self._fallback.degrade(str(exc))
            if outcome:  # loaded, then Redis failed while storing: do not ask the exchange again
                return outcome[0]
            self.bypassed += 1
            return await loader()
        self._fallback.recover()
        if not outcome:
            self.hits += 1
        return value

    def stats(self) -> dict[str, int]:
        """Cache hits, loads (exchange calls through the cache) and calls that bypassed Redis."""
        return {"hits": self.hits, "loads": self.loads, "bypassed": self.bypassed}


def shared_market_data(
    settings: ExchangeSettings, redis: RedisClient | None, *, venue_shares: bool
) -> SharedMarketData:
    """The cache of one service: off without Redis, when disabled, and for a venue whose market
    data is its own (the paper venue: each process simulates its own market); a testnet is a
    venue of its own."""
    s = settings
    shared = redis is not None and s.share_market_data and venue_shares
    venue = f"{s.exchange_id}-testnet" if s.use_testnet else s.exchange_id
    lock_ttl_s = s.timeout_ms / 1000 * s.max_read_attempts + s.backoff_max_s  # a slow load
    return SharedMarketData(redis if shared else None, venue, lock_ttl_s=lock_ttl_s)


class Periodic:
    """``step()`` every ``every_s`` seconds in a background task, errors reported, until stop.

    It ends on :meth:`stop` even when the cancel is lost: ccxt's market loading runs in a task
    of its own that can absorb a cancellation arriving mid-request (seen with ccxt 4.5.90).
    The loop runs under a :class:`~omegafarm.core.supervisor.Supervisor` (an exception that
    escapes ``on_error`` is logged with its traceback, counted and the loop restarted).
    """

    def __init__(
        self,
        every_s: float,
        step: Callable[[], Awaitable[object]],
        on_error: Callable[[Exception], None],
        *,
        name: str = "refresh",
    ) -> None:
        self._every_s = every_s
        self._step = step
        self._on_error = on_error
        self._stop = asyncio.Event()
        self._name = name
        self.supervisor = Supervisor("exchange")
        self._started = False

    def start(self) -> None:
        """Start the background task (in the running event loop)."""
        if not self._started:
            self._started = True
            self.supervisor.start(self._name, self._run)

    async def stop(self) -> None:
        """Stop and wait for the task to end."""
        self._stop.set()
        await self.supervisor.close()
        self._started = False

    async def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self._every_s)
            if self._stop.is_set():
                return
            try:
                await self._step()
            except Exception as exc:  # expected failures: reported by on_error, tried next round
                self._on_error(exc)

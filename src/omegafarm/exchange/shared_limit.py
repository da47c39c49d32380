"""The farm-wide rate limit: the exchange's :class:`RateLimiter` port on Redis (GCRA in Lua).

Every process and machine that uses the same bucket names on the same Redis draws on one
budget (the GCRA script lives in :mod:`omegafarm.store.ratelimit`: one round trip per
acquisition, time from the server). Bucket budgets come from a :class:`LocalRateLimiter`'s
specs, so the single-process and the shared limiter are configured the same way.

If Redis cannot be reached the limiter degrades to a local limiter at a conservative share of
each budget (``local_share``, default 1/4: four processes on one key stay within the limit),
says so in :attr:`degraded_reason`, and tries Redis again after ``retry_redis_s``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from omegafarm.core.errors import StoreError
from omegafarm.exchange.config import ExchangeSettings
from omegafarm.exchange.factory import rate_interval_ms
from omegafarm.exchange.fallback import RedisFallback
from omegafarm.exchange.ratelimit import BucketSpec, LocalRateLimiter, local_limiter
from omegafarm.store import RateSpec, RedisClient


def shared_limiter(
    settings: ExchangeSettings, redis: RedisClient, *, egress: str = "default"
) -> SharedRateLimiter:
    """The farm-wide limiter for the configured exchange account (ccxt's published rate less
    the headroom; orders per account). ``egress`` names the public IP the requests leave from:
    processes that share it share the weight budget."""
    interval_ms = rate_interval_ms(settings)
    return SharedRateLimiter(redis, local_limiter(settings, interval_ms), egress=egress)


def rate_spec(spec: BucketSpec) -> RateSpec:
    """The store's RateSpec with the same sustained rate and burst as ``spec``."""
    return RateSpec(limit=spec.burst + 1.0 / spec.interval_s, period_s=1.0, burst=spec.burst)


class SharedRateLimiter:
    """GCRA buckets shared through Redis, with a local fallback when Redis is away."""

    def __init__(
        self,
        redis: RedisClient,
        specs: LocalRateLimiter,
        *,
        local_share: float = 0.25,
        retry_redis_s: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_wait_s: float = 300.0,
        egress: str = "default",
    ) -> None:
        self._redis = redis
        self._specs = specs
        self._local_share = local_share
        self._sleep = sleep
        self._max_wait_s = max_wait_s
        self._fallback = LocalRateLimiter(self._scaled(specs.spec("")), sleep=sleep)
        self._redis_away = RedisFallback(
            retry_redis_s=retry_redis_s,
            reason=lambda problem: (
                f"Redis unreachable, limiting locally at {local_share:.0%}: {problem}"
            ),
            degraded_event="rate_limit_degraded",
            recovered_event="rate_limit_shared_again",
            local_share=local_share,
        )
        self._pending: set[asyncio.Task[object]] = set()
        self._routes: dict[str, tuple[str, RateSpec]] = {}  # bucket -> its Redis name and spec
        self.waited_s = 0.0
        self.used_units: dict[str, float] = {}
        self.egress = egress

    @property
    def degraded(self) -> bool:
        """True while requests are limited locally because Redis is unreachable."""
        return self._redis_away.degraded

    @property
    def degraded_reason(self) -> str:
        """Why requests are limited locally ("" while Redis answers)."""
        return self._redis_away.reason

    def spec(self, bucket: str) -> BucketSpec:
        """The budget of ``bucket``."""
        return self._specs.spec(bucket)

    async def acquire(self, bucket: str, cost: float) -> None:
        """Reserve ``cost`` units of ``bucket`` farm-wide, then sleep until the slot comes."""
        if self._redis_away.use_redis():
            key, spec = self._routes.get(bucket) or self._route(bucket)
            try:
                reservation = await self._redis.ratelimit_acquire(
                    key, spec, cost, max_wait_s=self._max_wait_s
                )
            except StoreError as exc:
                self._redis_away.degrade(str(exc))
            else:
                self._redis_away.recover()
                self.used_units[bucket] = reservation.used_units
                if reservation.wait_s > 0:
                    self.waited_s += reservation.wait_s
                    await self._sleep(reservation.wait_s)
                return
        self._fallback.configure_bucket(bucket, self._scaled(self.spec(bucket)))
        await self._fallback.acquire(bucket, cost)

    def note_retry_after(self, bucket: str, seconds: float) -> None:
        """Every process pauses ``bucket`` for ``seconds`` (a shared cool-down key)."""
        self._fallback.note_retry_after(bucket, seconds)
        if self._redis_away.use_redis():
            self._background(self._redis.ratelimit_cooldown(self._key(bucket), seconds))

    def sync_used_weight(self, bucket: str, used: float, limit: float) -> None:
        """Move the shared bucket forward to what the exchange reports as used."""
        self._fallback.sync_used_weight(bucket, used, limit)
        if self._redis_away.use_redis():
            key, spec = self._routes.get(bucket) or self._route(bucket)
            remaining = max(0.0, limit - used)
            self._background(self._redis.ratelimit_sync(key, spec, remaining))

    def used_fraction(self, bucket: str) -> float:
        """How much of the bucket's burst is spent, as last seen (0 idle, 1 must wait)."""
        spec = self.spec(bucket)
        return min(1.0, max(0.0, self.used_units.get(bucket, 0.0) / spec.burst))

    # ----------------------------------------------------------------- internals
    def _route(self, bucket: str) -> tuple[str, RateSpec]:
        """The Redis name and the store's spec of ``bucket``, built once (budgets are fixed)."""
        route = self._routes[bucket] = (self._key(bucket), rate_spec(self.spec(bucket)))
        return route

    def _key(self, bucket: str) -> str:
        """Request weight is counted per egress IP, orders per account (already in the name)."""
        return f"{bucket}@{self.egress}" if bucket.startswith("weight:") else bucket

    def _scaled(self, spec: BucketSpec) -> BucketSpec:
        return BucketSpec(
            spec.interval_s / self._local_share, max(1.0, spec.burst * self._local_share)
        )

    def _background(self, awaitable: Awaitable[object]) -> None:
        async def run() -> object:
            try:
                return await awaitable
            except StoreError as exc:
                self._redis_away.degrade(str(exc))
                return None

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside the event loop: the local state was updated
            return
        task = loop.create_task(run())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

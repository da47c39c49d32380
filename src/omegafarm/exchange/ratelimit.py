"""Rate limiting: the port every request goes through, and an in-process GCRA adapter.

The service calls :meth:`RateLimiter.acquire` before each HTTP request with ccxt's cost for that
endpoint, so ccxt's own per-process throttle is switched off. The Redis-backed limiter of the
store package implements the same Protocol and is a drop-in replacement when several processes
share one API key or egress IP.

GCRA (generic cell rate algorithm): each bucket keeps a theoretical arrival time ``tat``. A
request of cost ``c`` moves it to ``max(tat, now) + c·T``; it may go when the new ``tat`` is no
more than ``burst·T`` ahead of now, else the caller reserves its slot and sleeps the difference.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from omegafarm.exchange.config import ExchangeSettings


@runtime_checkable
class RateLimiter(Protocol):
    """Admits requests against shared budgets ("buckets")."""

    async def acquire(self, bucket: str, cost: float) -> None:
        """Wait until ``cost`` units of ``bucket`` may be spent, then spend them."""
        ...

    def note_retry_after(self, bucket: str, seconds: float) -> None:
        """The exchange asked for a pause: no request of ``bucket`` before ``seconds`` pass."""
        ...

    def sync_used_weight(self, bucket: str, used: float, limit: float) -> None:
        """The exchange reported ``used`` of ``limit`` units spent in its current window."""
        ...


@dataclass(frozen=True)
class BucketSpec:
    """A bucket's budget: ``interval_s`` per cost unit and ``burst`` units allowed at once."""

    interval_s: float
    burst: float


class LocalRateLimiter:
    """GCRA buckets in this process only; ``clock`` and ``sleep`` are injectable for tests."""

    def __init__(
        self,
        default: BucketSpec,
        buckets: dict[str, BucketSpec] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._default = default
        self._specs = dict(buckets or {})
        self._tat: dict[str, float] = {}
        self._cooldown_until: dict[str, float] = {}
        self._clock = clock
        self._sleep = sleep
        self.waited_s = 0.0

    def configure_bucket(self, bucket: str, spec: BucketSpec) -> None:
        """Give ``bucket`` its own budget."""
        self._specs[bucket] = spec

    def spec(self, bucket: str) -> BucketSpec:
        """The budget of ``bucket``."""
        return self._specs.get(bucket, self._default)

    async def acquire(self, bucket: str, cost: float) -> None:
        """Spend ``cost`` units now, then sleep until their slot comes (never fails for lack of
        budget). On every request: the GCRA step is written out here, not in a helper."""
        spec = self._specs.get(bucket, self._default)  # self.spec(bucket)
        now = self._clock()
        tat = self._tat.get(bucket, now)
        if tat < now:
            tat = now
        interval_s = spec.interval_s
        new_tat = self._tat[bucket] = tat + cost * interval_s
        wait_s = new_tat - spec.burst * interval_s - now
        cooldown_until = self._cooldown_until.get(bucket)
        if cooldown_until is not None and cooldown_until - now > wait_s:
            wait_s = cooldown_until - now
        if wait_s > 1e-9:  # float noise (or nothing to wait) is no wait
            self.waited_s += wait_s
            await self._sleep(wait_s)

    def note_retry_after(self, bucket: str, seconds: float) -> None:
        """Hold every request of ``bucket`` for ``seconds``."""
        until = self._clock() + max(0.0, seconds)
        self._cooldown_until[bucket] = max(self._cooldown_until.get(bucket, 0.0), until)

    def sync_used_weight(self, bucket: str, used: float, limit: float) -> None:
        """Move the bucket forward when the exchange has seen more use than we counted."""
        spec = self.spec(bucket)
        now = self._clock()
        available = max(0.0, limit - used)
        floor_tat = now + (spec.burst - min(available, spec.burst)) * spec.interval_s
        self._tat[bucket] = max(self._tat.get(bucket, now), floor_tat)

    def used_fraction(self, bucket: str) -> float:
        """How much of the burst allowance is currently spent (0 = idle, 1 = must wait)."""
        spec = self.spec(bucket)
        ahead = self._tat.get(bucket, 0.0) - self._clock()
        return min(1.0, max(0.0, ahead / (spec.burst * spec.interval_s)))


def weight_bucket(exchange_id: str) -> str:
    """The bucket that request weight of ``exchange_id`` is counted in."""
    return f"weight:{exchange_id}"


def order_bucket(exchange_id: str, account: str) -> str:
    """The bucket that orders of one account are counted in."""
    return f"orders:{exchange_id}:{account}"


def local_limiter(
    settings: ExchangeSettings,
    interval_ms: float,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> LocalRateLimiter:
    """The budgets of one exchange account: ccxt's ``rateLimit`` less the headroom, orders/s."""
    weight = BucketSpec(
        interval_ms / 1000.0 / (1 - settings.rate_limit_headroom), settings.rate_limit_burst
    )
    limiter = LocalRateLimiter(weight, sleep=sleep)
    limiter.configure_bucket(weight_bucket(settings.exchange_id), weight)
    limiter.configure_bucket(
        order_bucket(settings.exchange_id, settings.account),
        BucketSpec(1.0 / settings.orders_per_s, 1.0),
    )
    return limiter

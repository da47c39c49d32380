"""The in-process GCRA limiter: bursts, sustained rate, cool-downs and used-weight sync."""

from __future__ import annotations

import pytest

from omegafarm.exchange.ratelimit import BucketSpec, LocalRateLimiter, RateLimiter


class FakeClock:
    """A clock that moves only when the limiter sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now_s = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now_s

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now_s += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _limiter(clock: FakeClock, interval_s: float = 0.1, burst: float = 5) -> LocalRateLimiter:
    return LocalRateLimiter(BucketSpec(interval_s, burst), clock=clock, sleep=clock.sleep)


def test_local_limiter_implements_the_port(clock: FakeClock) -> None:
    assert isinstance(_limiter(clock), RateLimiter)


async def test_burst_passes_then_requests_are_spaced_by_the_interval(clock: FakeClock) -> None:
    limiter = _limiter(clock)
    for _ in range(5):
        await limiter.acquire("weight:x", 1)
    assert clock.slept == []
    for _ in range(3):
        await limiter.acquire("weight:x", 1)
    assert clock.slept == pytest.approx([0.1, 0.1, 0.1])


async def test_sustained_rate_never_exceeds_the_budget(clock: FakeClock) -> None:
    limiter = _limiter(clock, interval_s=0.05, burst=10)  # 20 units/s
    start = clock.now_s
    for _ in range(1000):
        await limiter.acquire("weight:x", 1)
    elapsed = clock.now_s - start
    # 1000 units minus the burst at 20/s: at least 49.5 s; never faster than the budget.
    assert elapsed == pytest.approx((1000 - 10 - 1) * 0.05 + 0.05, abs=0.06)


async def test_cost_counts_as_that_many_units(clock: FakeClock) -> None:
    limiter = _limiter(clock, burst=5)
    await limiter.acquire("weight:x", 5)
    await limiter.acquire("weight:x", 2)
    assert clock.slept == pytest.approx([0.2])


async def test_buckets_are_independent_and_configurable(clock: FakeClock) -> None:
    limiter = _limiter(clock, burst=1)
    limiter.configure_bucket("orders:x:acct", BucketSpec(1.0, 1))
    await limiter.acquire("orders:x:acct", 1)
    await limiter.acquire("weight:x", 1)
    await limiter.acquire("orders:x:acct", 1)
    assert clock.slept == pytest.approx([1.0])


async def test_retry_after_holds_the_bucket(clock: FakeClock) -> None:
    limiter = _limiter(clock)
    limiter.note_retry_after("weight:x", 3.0)
    await limiter.acquire("weight:x", 1)
    assert clock.slept == pytest.approx([3.0])
    await limiter.acquire("weight:y", 1)
    assert len(clock.slept) == 1  # other buckets are not held


async def test_used_weight_from_the_exchange_moves_the_bucket_forward(clock: FakeClock) -> None:
    limiter = _limiter(clock, burst=5)
    limiter.sync_used_weight("weight:x", used=1199, limit=1200)  # one unit left over there
    await limiter.acquire("weight:x", 1)
    await limiter.acquire("weight:x", 1)
    assert len(clock.slept) == 1
    assert limiter.used_fraction("weight:x") > 0.9


async def test_low_reported_weight_does_not_free_budget_we_counted(clock: FakeClock) -> None:
    limiter = _limiter(clock, burst=5)
    for _ in range(5):
        await limiter.acquire("weight:x", 1)
    limiter.sync_used_weight("weight:x", used=0, limit=1200)
    await limiter.acquire("weight:x", 1)
    assert clock.slept == pytest.approx([0.1])

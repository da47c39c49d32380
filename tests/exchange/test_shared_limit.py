"""The farm-wide limiter: several processes on one Redis share one budget."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from multiprocessing.sharedctypes import Synchronized

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from omegafarm.exchange.ratelimit import BucketSpec, LocalRateLimiter
from omegafarm.exchange.shared_limit import SharedRateLimiter
from omegafarm.store import RedisClient, RedisSettings

BUDGET_PER_S = 200.0  # the "exchange's" published limit in this test
HEADROOM = 0.05
BURST = 4.0
RUN_S = 10.0


def limiter_spec() -> BucketSpec:
    sustained = BUDGET_PER_S * (1 - HEADROOM) - BURST
    return BucketSpec(interval_s=1.0 / sustained, burst=BURST)


async def _hammer(url: str, farm: str, ready: mp.Queue, go: Synchronized) -> list[float]:  # type: ignore[type-arg]
    redis = RedisClient(
        RedisSettings(url=SecretStr(url), farm=farm), metrics_registry=CollectorRegistry()
    )
    await redis.initialize()
    limiter = SharedRateLimiter(redis, LocalRateLimiter(limiter_spec()))
    sent: list[float] = []
    ready.put("ready")
    while go.value == 0.0 or time.time() < go.value:  # noqa: ASYNC110  # cross-process start line
        await asyncio.sleep(0.001)  # wait-ok: a cross-process start line, polled
    until = go.value + RUN_S
    while time.time() < until:
        await limiter.acquire("weight:test", 1.0)
        sent.append(time.time())  # the moment the "request" goes out
    await redis.shutdown()
    return sent


def _worker(url: str, farm: str, ready: mp.Queue, go: Synchronized, out: mp.Queue) -> None:  # type: ignore[type-arg]
    out.put(asyncio.run(_hammer(url, farm, ready, go)))


def max_in_any_window(times: np.ndarray, window_s: float) -> int:
    times = np.sort(times)
    ends = np.searchsorted(times, times + window_s, side="left")
    return int((ends - np.arange(len(times))).max())


@pytest.mark.slow
@pytest.mark.xdist_group("farm")  # 4 busy processes: never beside a farm under xdist
def test_four_processes_never_exceed_the_shared_budget_and_use_most_of_it(redis_url: str) -> None:
    ctx = mp.get_context("spawn")
    queue, ready = ctx.Queue(), ctx.Queue()
    go = ctx.Value("d", 0.0)
    procs = [
        ctx.Process(target=_worker, args=(redis_url, "limit4", ready, go, queue)) for _ in range(4)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=60)
    start_at = time.time() + 0.2
    until = start_at + RUN_S
    go.value = start_at
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=10)
    sent = np.concatenate([np.asarray(r) for r in results])
    in_run = sent[(sent >= start_at) & (sent < until)]

    assert all(len(r) > 0 for r in results), "every process got requests through"
    assert max_in_any_window(in_run, 1.0) <= BUDGET_PER_S
    # Not starved: a limiter that waits twice as long as it must fails here. How close it gets
    # to the budget depends on the machine's load (CPU shared with other tests), so that figure
    # is measured in bench/ratelimit.py, not asserted (1,647 of 1,864 possible at load ~5).
    assert len(in_run) >= 0.6 * BUDGET_PER_S * RUN_S


async def test_degrades_to_a_local_share_when_redis_is_unreachable() -> None:
    dead = RedisClient(
        RedisSettings(url=SecretStr("redis://127.0.0.1:1")), metrics_registry=CollectorRegistry()
    )
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    limiter = SharedRateLimiter(
        dead, LocalRateLimiter(BucketSpec(0.01, 4.0)), local_share=0.25, sleep=record
    )
    for _ in range(3):
        await limiter.acquire("weight:x", 1.0)
    assert limiter.degraded
    assert "Redis unreachable" in limiter.degraded_reason
    # A quarter of the budget: burst 1 instead of 4, one unit every 40 ms instead of 10 ms.
    assert slept == pytest.approx([0.04, 0.08], abs=0.005)


async def test_retry_after_pauses_every_process(redis_client: RedisClient) -> None:
    spec = BucketSpec(0.001, 10.0)
    first = SharedRateLimiter(redis_client, LocalRateLimiter(spec))
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    second = SharedRateLimiter(redis_client, LocalRateLimiter(spec), sleep=record)
    first.note_retry_after("weight:y", 2.0)
    await asyncio.gather(*first._pending)
    await second.acquire("weight:y", 1.0)
    assert slept and 1.5 < slept[0] <= 2.0

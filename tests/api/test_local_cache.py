"""The per-process ticker copy: fresh for its TTL, then served stale for one more TTL while a
single background refresh runs; older than that, a request waits for the load."""

from __future__ import annotations

import asyncio

import pytest

from omegafarm.api._local import LocalCache


class Clock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


class Loader:
    """Returns 1, 2, 3...; each load waits until ``release`` is set (when it is given)."""

    def __init__(self) -> None:
        self.calls = 0
        self.release: asyncio.Event | None = None

    async def __call__(self) -> int:
        self.calls += 1
        if self.release is not None:
            await self.release.wait()
        return self.calls


async def test_fresh_values_come_from_memory() -> None:
    cache, load = LocalCache(0.25, clock=Clock()), Loader()
    values = [await cache.get_or_load("k", load) for _ in range(5)]
    assert values == [1] * 5 and load.calls == 1


async def test_a_stale_value_is_served_while_one_refresh_runs() -> None:
    clock = Clock()
    cache, load = LocalCache(0.25, clock=clock), Loader()
    await cache.get_or_load("k", load)
    clock.now_s = 0.3  # stale, within the grace period
    load.release = asyncio.Event()
    served = await asyncio.gather(*(cache.get_or_load("k", load) for _ in range(10)))
    assert served == [1] * 10  # nobody waited for the refresh...
    assert load.calls == 2  # ...and only one refresh started
    clock.now_s = 0.6  # too old to serve: this request joins the refresh in flight
    waiter = asyncio.ensure_future(cache.get_or_load("k", load))
    load.release.set()
    assert await waiter == 2
    assert load.calls == 2


async def test_a_value_older_than_twice_the_ttl_is_loaded_before_answering() -> None:
    clock = Clock()
    cache, load = LocalCache(0.25, clock=clock), Loader()
    await cache.get_or_load("k", load)
    clock.now_s = 0.6
    assert await cache.get_or_load("k", load) == 2


async def test_a_failed_load_reaches_the_waiting_caller() -> None:
    cache = LocalCache(0.25, clock=Clock())

    async def broken() -> int:
        raise RuntimeError("redis down")

    with pytest.raises(RuntimeError, match="redis down"):
        await cache.get_or_load("k", broken)

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from redis.asyncio import Redis

from omegafarm.core.errors import ServiceStateError, StoreUnavailableError, ValidationError
from omegafarm.store import Keys, RateSpec, RedisClient, RedisSettings


async def test_set_get_delete_round_trip(redis_client: RedisClient) -> None:
    await redis_client.set("order:1", {"price": Decimal("101.5"), "qty": 2})
    assert await redis_client.get("order:1") == {"price": Decimal("101.5"), "qty": 2}
    assert await redis_client.delete("order:1") == 1
    assert await redis_client.get("order:1") is None


async def test_keys_are_namespaced_by_farm(redis_client: RedisClient, redis_url: str) -> None:
    await redis_client.set("k", 1)
    farm = redis_client.settings.farm
    raw = Redis.from_url(redis_url)  # the server's view, not the client's
    try:
        assert await raw.exists(f"omega:{farm}:k") == 1
        assert await raw.exists("k") == 0
    finally:
        await raw.aclose()


async def test_ttl_expires_the_value(redis_client: RedisClient) -> None:
    await redis_client.set("short", "v", ttl_s=0.05)
    ttl_s = await redis_client.ttl_s("short")
    assert ttl_s is not None
    assert 0 < ttl_s <= 0.05


async def test_set_if_absent_only_writes_once(redis_client: RedisClient) -> None:
    assert await redis_client.set_if_absent("once", "first") is True
    assert await redis_client.set_if_absent("once", "second") is False
    assert await redis_client.get("once") == "first"


async def test_hundred_concurrent_get_or_set_run_the_loader_once(redis_client: RedisClient) -> None:
    calls = 0
    release = asyncio.Event()

    async def loader() -> dict[str, int]:
        nonlocal calls
        calls += 1
        await release.wait()
        return {"value": 42}

    tasks = [
        asyncio.create_task(redis_client.get_or_set("cold", loader, ttl_s=30)) for _ in range(100)
    ]
    await asyncio.sleep(0)  # let every task reach the cache  # wait-ok: one loop turn, no timing
    release.set()
    results = await asyncio.gather(*tasks)
    assert calls == 1
    assert all(r == {"value": 42} for r in results)


async def test_get_or_set_is_single_flight_across_clients(
    redis_client: RedisClient, redis_url: str
) -> None:
    other = RedisClient(
        RedisSettings(url=SecretStr(redis_url), farm=redis_client.settings.farm),
        metrics_registry=CollectorRegistry(),
    )
    await other.initialize()
    calls = 0
    started = asyncio.Event()
    release = asyncio.Event()

    async def loader() -> int:
        nonlocal calls
        calls += 1
        started.set()
        await release.wait()
        return 7

    first = asyncio.create_task(redis_client.get_or_set("shared", loader, ttl_s=30))
    await asyncio.wait_for(started.wait(), 5)
    second = asyncio.create_task(other.get_or_set("shared", loader, ttl_s=30))
    release.set()
    assert await asyncio.wait_for(asyncio.gather(first, second), 10) == [7, 7]
    assert calls == 1
    await other.shutdown()


async def test_loader_error_reaches_every_waiter_and_caches_nothing(
    redis_client: RedisClient,
) -> None:
    async def failing() -> int:
        raise RuntimeError("exchange down")

    results = await asyncio.gather(
        *(redis_client.get_or_set("bad", failing, ttl_s=5) for _ in range(5)),
        return_exceptions=True,
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    assert await redis_client.exists("cache:bad") == 0


async def test_health_reports_round_trip_latency(redis_client: RedisClient) -> None:
    health = await redis_client.health()
    assert health.ready and health.live
    (check,) = health.checks
    assert check.component == "redis" and check.observed_unit == "ms"
    assert isinstance(check.observed_value, float) and check.observed_value >= 0


async def test_unreachable_url_fails_start_with_a_transient_error(tmp_path: object) -> None:
    client = RedisClient(
        RedisSettings(url=SecretStr("unix:///nonexistent/valkey.sock"), connect_timeout_s=0.2),
        metrics_registry=CollectorRegistry(),
    )
    with pytest.raises(StoreUnavailableError, match="unreachable"):
        await client.initialize()
    health = await client.health()
    assert not health.ready and "failed" in health.reason


async def test_calls_before_connect_raise_a_clear_error() -> None:
    client = RedisClient(
        RedisSettings(url=SecretStr("redis://127.0.0.1:1")), metrics_registry=CollectorRegistry()
    )
    with pytest.raises(StoreUnavailableError, match="not connected"):
        await client.get("x")
    with pytest.raises(ServiceStateError):
        client._require_running()


def test_invalid_farm_name_is_rejected() -> None:
    with pytest.raises(ValidationError, match="farm name"):
        Keys("Bad Farm!")


async def test_a_rate_limit_script_the_server_forgot_is_loaded_again(
    redis_client: RedisClient,
) -> None:
    spec = RateSpec(limit=10, period_s=3600.0, burst=5)  # a unit drains in 6 min: none meanwhile
    first = await redis_client.ratelimit_acquire("weight:noscript", spec, 1.0)
    await redis_client._raw.script_flush()  # as after a server restart: NOSCRIPT next time
    second = await redis_client.ratelimit_acquire("weight:noscript", spec, 1.0)
    assert (first.reserved, second.reserved) == (True, True)
    assert second.used_units > first.used_units  # the same bucket, one more unit in it

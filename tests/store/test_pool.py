"""The connection pool: callers wait for a connection instead of failing, and never exceed it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest_asyncio
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from redis.asyncio import Redis

from omegafarm.store import RateSpec, RedisClient, RedisSettings
from tests.exchange.test_shared_cache import wait_until


async def _client(redis_url: str, max_connections: int) -> RedisClient:
    settings = RedisSettings(
        url=SecretStr(redis_url), farm="p" + uuid.uuid4().hex[:12], max_connections=max_connections
    )
    client = RedisClient(settings, metrics_registry=CollectorRegistry())
    await client.initialize()
    return client


@pytest_asyncio.fixture(loop_scope="session")
async def one_connection(redis_url: str) -> AsyncIterator[RedisClient]:
    client = await _client(redis_url, 1)
    yield client
    await client.shutdown()


async def _clients_on_server(redis_url: str) -> int:
    raw = Redis.from_url(redis_url)
    try:
        return len(await raw.client_list()) - 1  # less this one
    finally:
        await raw.aclose()


async def _blocked_clients(redis_url: str) -> int:
    raw = Redis.from_url(redis_url)
    try:
        return int((await raw.info("clients"))["blocked_clients"])
    finally:
        await raw.aclose()


async def test_a_busy_pool_makes_callers_wait_not_fail(
    one_connection: RedisClient, redis_url: str
) -> None:
    await one_connection.stream_group("s", "g")
    blocked = await _blocked_clients(redis_url)
    # the only connection blocks in XREADGROUP for 2 s; the SET must wait for it, then run
    reading = asyncio.ensure_future(one_connection.stream_read("s", "g", "c", block_ms=2000))

    async def read_is_blocked() -> bool:  # the server says so: the read holds the connection
        return await _blocked_clients(redis_url) > blocked

    await wait_until(read_is_blocked)
    await one_connection.set("k", 1)
    assert await asyncio.wait_for(one_connection.get("k"), timeout=10) == 1
    assert await asyncio.wait_for(reading, timeout=10) == []


async def test_many_concurrent_calls_share_the_bounded_pool(redis_url: str) -> None:
    before = await _clients_on_server(redis_url)
    client = await _client(redis_url, 2)
    try:
        spec = RateSpec(limit=1e6, period_s=1.0, burst=1e3)
        acquired = await asyncio.wait_for(
            asyncio.gather(*(client.ratelimit_acquire("b", spec) for _ in range(50))), timeout=30
        )
        assert all(r.reserved for r in acquired)
        values = await asyncio.gather(*(client.get(f"absent{i}") for i in range(50)))
        assert values == [None] * 50
        assert await _clients_on_server(redis_url) - before <= 2
    finally:
        await client.shutdown()

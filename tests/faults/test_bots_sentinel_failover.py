"""A Sentinel failover under a trading farm: kill -9 of the master, the replica takes over.

Gateway and two workers reach Redis through ``redis+sentinel://``. The master is SIGKILLed
while the bots trade; the sentinels promote the replica; every bot must hear candles again,
health must have said "paused" meanwhile, no client order id may be doubled and the books must
match the exchange to the last unit (what the replica had not received is the only thing a
failover can lose: orders are safe because state is saved before a command is sent).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from omegafarm.bots.gateway import Gateway
from omegafarm.bots.service import register_bots
from omegafarm.bots.worker import Worker
from omegafarm.store import RedisClient, RedisSettings
from omegafarm.store import keys as _names
from omegafarm.store.testing import SentinelGroup, wait_until
from tests.faults._checks import (
    assert_books_match_the_exchange,
    assert_subscriptions_exact,
    fills_at_least,
    true,
)
from tests.integration._farm import (
    bots,
    farm_settings,
    paper_exchange,
    settled,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("farm")]  # one farm at a time
TTL_S = 2.0


async def test_every_bot_trades_again_after_a_sentinel_failover_without_losing_an_order(
    tmp_path: Path,
) -> None:
    servers = SentinelGroup(tmp_path / "valkey").start()
    url = SecretStr(servers.url)
    redis_settings = RedisSettings(
        url=url,
        farm="failover",
        reconnect_max_backoff_s=0.5,
        socket_timeout_s=1,
        connect_timeout_s=0.5,
    )
    clients = [RedisClient(redis_settings, metrics_registry=CollectorRegistry()) for _ in range(3)]
    for client in clients:
        await client.initialize()
    gw_redis = clients[0]
    exchange = paper_exchange(tmp_path)
    await exchange.initialize()
    specs = bots(8)
    await register_bots(gw_redis, specs)
    settings = farm_settings(ttl_s=TTL_S)
    stop = asyncio.Event()
    gateway = Gateway(gw_redis, exchange, settings, {(b.symbol, b.timeframe) for b in specs})
    workers = [Worker(c, settings, f"w{i}") for i, c in enumerate(clients[1:])]
    tasks = [asyncio.create_task(gateway.run(stop))]
    tasks += [asyncio.create_task(w.run(stop)) for w in workers]

    def running() -> dict[str, Worker]:
        return {b: w for w in workers for b in w.bots}

    def heard_since(t_ms: int) -> set[str]:
        return {b for w in workers for b, at in w.last_candle_ms.items()
                if at > t_ms and b in w.bots}  # fmt: skip

    try:
        start_ms = int(time.time() * 1000)
        await wait_for(lambda: true(len(running()) == 8 and all(w.bots for w in workers)), 30,
                       "8 bots spread over 2 workers")  # fmt: skip
        await wait_for(lambda: true(len(heard_since(start_ms)) == 8), 30, "every bot hears")

        await wait_for(lambda: fills_at_least(exchange, 4), 30, "4 filled orders")
        filled_before = await fills_at_least(exchange, 0, count=True)
        old_master = servers.master()
        servers.kill(old_master)  # kill -9 of the master
        await wait_for(lambda: true(all(w.paused for w in workers)), 15, "workers to pause")
        for worker in workers:
            ready, degraded, reason = worker.health()
            assert not ready and degraded and reason.startswith("paused: redis")
        await asyncio.to_thread(
            wait_until, lambda: servers.master() != old_master, 30, "the sentinels' failover"
        )
        back_ms = int(time.time() * 1000)
        await wait_for(lambda: true(len(running()) == 8), 4 * TTL_S + 10, "8 bots running")
        await wait_for(lambda: true(len(heard_since(back_ms)) == 8), 4 * TTL_S + 10,
                       "every bot to hear a candle after the failover")  # fmt: skip
        await wait_for(lambda: true(not any(w.paused for w in workers)), 2 * TTL_S + 5,
                       "every worker to resume (a balance round succeeded)")  # fmt: skip
        assert all(w.health()[0] for w in workers)
        await wait_for(lambda: fills_at_least(exchange, filled_before + 4), 30,
                       "4 more filled orders: trading again")  # fmt: skip
        await assert_subscriptions_exact(workers)

        for spec in specs:
            await gw_redis.set(_names.desired(spec.id), "stopped")
        await wait_for(lambda: true(not running()), 15, "bots stopped")
        await wait_for(lambda: settled(gw_redis, gateway), 15, "commands done, no open orders")
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    try:
        await assert_books_match_the_exchange(gw_redis, exchange, [s.id for s in specs])
    finally:
        await exchange.shutdown()
        for client in clients:
            await client.shutdown()
        servers.stop()

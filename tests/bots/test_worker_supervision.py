"""A worker under supervision: a buggy bot is reported without silencing the others, and a bot
that hears no candle for 3 of its timeframes is reported (health, heartbeat, /metrics, alert)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from omegafarm.api.alerting import AlertingService
from omegafarm.api.config import AlertSettings
from omegafarm.bots.config import BotSettings
from omegafarm.bots.gateway import Gateway
from omegafarm.bots.metrics import FarmCollector
from omegafarm.bots.service import register_bots
from omegafarm.bots.staleness import candle_ages
from omegafarm.bots.worker import Worker
from omegafarm.core.registry import ServiceRegistry
from omegafarm.store import RedisClient
from omegafarm.store import keys as _names
from tests.integration._farm import bots, farm_settings, paper_exchange, wait_for

pytestmark = pytest.mark.slow


async def _true(value: bool) -> bool:
    return value


async def test_a_bot_whose_strategy_raises_is_reported_and_the_others_keep_trading(
    redis_client: RedisClient, tmp_path: Path
) -> None:
    exchange = paper_exchange(tmp_path)
    await exchange.initialize()
    crash = BotSettings(id="crash", strategy="tests.bots._crashing:Crashing",
                        symbol="BTC/USDT", capital=Decimal(1000))  # fmt: skip
    specs = [*bots(2), crash]
    await register_bots(redis_client, specs)
    settings = farm_settings(ttl_s=3.0)
    registry = CollectorRegistry()
    gateway = Gateway(redis_client, exchange, settings, {(b.symbol, b.timeframe) for b in specs})
    worker = Worker(redis_client, settings, "w-sup", metrics_registry=registry)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(gateway.run(stop)), asyncio.create_task(worker.run(stop))]
    try:
        await wait_for(lambda: _true(len(worker.bots) == 3), 20, "3 bots running")
        failures = {"owner": "worker", "task": "bot:crash", "error_class": "ZeroDivisionError"}

        async def crashed_three_times() -> bool:
            value = registry.get_sample_value("omega_task_failures_total", failures)
            return value is not None and value >= 3

        await wait_for(crashed_three_times, 30, "three crashes of the buggy bot")
        heard = dict(worker.last_candle_ms)
        await wait_for(
            lambda: _true(
                all(worker.last_candle_ms.get(b.id, 0) > heard.get(b.id, 0) for b in bots(2))
            ),
            20,
            "the healthy bots to hear the next candle",
        )
        ready, degraded, reason = worker.health()
        assert ready and degraded
        assert "bot:crash" in reason and "ZeroDivisionError" in reason

        async def heartbeat_warns() -> bool:
            beat = await redis_client.get(_names.worker("w-sup"))
            return bool(beat) and beat["state"] == "warn" and "bot:crash" in beat["reason"]

        await wait_for(heartbeat_warns, 10, "the heartbeat to carry the degraded state")
        assert [s.name for s in worker.supervisor.statuses() if s.name in ("market", "balance")
                and s.total_failures == 0] == ["balance", "market"]  # fmt: skip
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await exchange.shutdown()


async def test_a_bot_without_candles_for_three_timeframes_is_reported_and_alerts(
    redis_client: RedisClient,
) -> None:
    deaf = BotSettings(id="deaf", strategy="sma_cross", symbol="BTC/USDT", timeframe="1s",
                       params={"fast": 2, "slow": 3})  # fmt: skip
    await register_bots(redis_client, [deaf])  # no gateway: nobody publishes its candles
    registry = CollectorRegistry()
    collector = FarmCollector(redis_client)
    registry.register(collector)
    alerts = AlertingService(AlertSettings(enabled=False), ServiceRegistry([]),
                             metrics_registry=registry)  # fmt: skip
    await alerts.initialize()
    worker = Worker(redis_client, farm_settings(ttl_s=1.5), "w-deaf")
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await wait_for(lambda: _true("deaf" in worker.bots), 20, "the bot to start")
        assert await alerts.evaluate_once() == []  # heard nothing yet, but only just started

        async def reported_silent() -> bool:
            ages = await candle_ages(redis_client)
            return "deaf" in ages and ages["deaf"].silent

        await wait_for(reported_silent, 20, "the heartbeat to report the bot silent")
        ages = await candle_ages(redis_client)
        assert ages["deaf"].worker == "w-deaf" and ages["deaf"].age_s > 3
        ready, degraded, reason = worker.health()
        assert ready and degraded and "deaf" in reason and "no candle" in reason
        await collector.refresh()
        assert registry.get_sample_value("omega_farm_bots_silent") == 1
        events = await alerts.evaluate_once()
        assert [(e.rule, e.status) for e in events] == [("bots-silent", "firing")]
    finally:
        stop.set()
        await task
        await alerts.shutdown()


async def test_a_worker_on_a_cluster_without_cluster_mode_reports_a_configuration_error(
    tmp_path: Path,
) -> None:
    """The issue's `redis set failed: 9689 127.0.0.1:7003` (MOVED): not "paused", but a
    degraded worker whose reason says to set cluster mode."""
    from pydantic import SecretStr

    from omegafarm.store import RedisSettings
    from omegafarm.store.testing import ValkeyCluster
    from tests.store.test_cluster import _slot_of

    cluster = ValkeyCluster(tmp_path).start()
    plain = RedisClient(
        RedisSettings(url=SecretStr(f"redis://127.0.0.1:{cluster.ports[0]}"), farm="moved"),
        metrics_registry=CollectorRegistry(),
    )
    await plain.initialize()
    worker_id = next(  # a worker whose heartbeat key lives on another node: MOVED
        f"w{i}"
        for i in range(100)
        if cluster.port_of_slot(_slot_of(plain.keys.key(_names.worker(f"w{i}"))))
        != cluster.ports[0]
    )
    worker = Worker(plain, farm_settings(ttl_s=1.5), worker_id)
    worker.supervisor._base_backoff_s = 0.01  # keep the test short: restarts come fast
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await wait_for(lambda: _true(worker.health()[1]), 20, "the worker to report degraded")
        _, degraded, reason = worker.health()
        assert degraded and not worker.paused
        assert "StoreConfigurationError" in reason and "cluster = true" in reason
    finally:
        stop.set()
        await task
        await plain.shutdown()
        cluster.stop()

"""Stop the Redis server while the farm trades and start it again: bots pause, resume, reconcile."""

from __future__ import annotations

import asyncio
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from omegafarm.bots.gateway import Gateway
from omegafarm.bots.service import register_bots
from omegafarm.bots.worker import Worker
from omegafarm.exchange import ExchangeService
from omegafarm.store import EmbeddedRedis, RedisClient, RedisSettings
from omegafarm.store import keys as _names
from tests.integration._farm import (
    QUOTE_START,
    audited_ledgers,
    bots,
    farm_settings,
    paper_exchange,
    settled,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("farm")]  # one farm at a time


async def _true(value: bool) -> bool:
    return value


async def _filled(exchange: object) -> int:
    orders = await exchange.fetch_orders()  # type: ignore[attr-defined]
    return len([o for o in orders if o.filled])


async def test_bots_pause_while_redis_is_down_then_resume_and_reconcile(tmp_path: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="vk") as short:  # unix socket paths must be short
        server = EmbeddedRedis(Path(short))
        url = (await server.start()).url()
        clients = [
            RedisClient(
                RedisSettings(url=SecretStr(url), farm="outage", reconnect_max_backoff_s=0.5),
                metrics_registry=CollectorRegistry(),
            )
            for _ in range(2)
        ]
        exchange = paper_exchange(tmp_path)
        try:  # the exchange, the clients and the server stopped whatever fails
            for client in clients:
                await client.initialize()
            await exchange.initialize()
            await _trade_through_an_outage(server, clients, exchange)
        finally:
            await exchange.shutdown()
            for client in clients:
                await client.shutdown()
            await server.stop()


async def _trade_through_an_outage(
    server: EmbeddedRedis, clients: list[RedisClient], exchange: ExchangeService
) -> None:
    gw_redis, worker_redis = clients
    specs = bots(6)
    await register_bots(gw_redis, specs)
    settings = farm_settings(ttl_s=2.0)
    stop = asyncio.Event()
    gateway = Gateway(gw_redis, exchange, settings, {(b.symbol, b.timeframe) for b in specs})
    worker = Worker(worker_redis, settings)
    tasks = [asyncio.create_task(gateway.run(stop)), asyncio.create_task(worker.run(stop))]
    try:
        await wait_for(lambda: _true(len(worker.bots) == 6), 15, "6 bots running")
        await wait_for(lambda: _true_async(_filled(exchange), 10), 20, "10 filled orders")
        await server.stop()
        await wait_for(lambda: _true(worker.paused), 10, "the worker to pause")
        before = await _filled(exchange)
        await server.start()
        await wait_for(lambda: _true(not worker.paused and len(worker.bots) == 6), 20, "resume")
        await wait_for(lambda: _true_async(_filled(exchange), before + 10), 20, "new fills")
        for spec in specs:
            await gw_redis.set(_names.desired(spec.id), "stopped")
        # settling (not what is tested): deadlines that hold on a loaded machine
        await wait_for(lambda: _true(not worker.bots), 30, "bots stopped")
        await wait_for(lambda: settled(gw_redis, gateway), 30, "commands done, no open orders")
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    ledgers = await audited_ledgers(gw_redis, [s.id for s in specs])
    orders = await exchange.fetch_orders()
    assert len({o.client_order_id for o in orders}) == len(orders)
    for order in orders:
        owner = ledgers[str(order.client_order_id).split("-")[0]]
        mine = owner.orders[str(order.client_order_id)]
        assert (mine.filled, mine.cost) == (order.filled, order.cost), order
    delta = sum((lg.cash - lg.capital for lg in ledgers.values()), Decimal(0))
    exact_free, exact_used = exchange.get_exchange_client().balance_of("USDT")
    assert exact_free + exact_used == QUOTE_START + delta  # to the last unit, not via floats


async def _true_async(count: object, at_least: int) -> bool:
    return int(await count) >= at_least  # type: ignore[misc]

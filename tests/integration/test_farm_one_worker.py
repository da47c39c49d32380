"""Twenty bots on one worker against the paper exchange: every fill has exactly one owner."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from omegafarm.bots import _view
from omegafarm.bots.gateway import Gateway
from omegafarm.bots.service import register_bots
from omegafarm.bots.worker import Worker
from omegafarm.store import RedisClient
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


async def test_twenty_bots_share_one_account_and_every_fill_reconciles(
    redis_client: RedisClient, tmp_path: Path
) -> None:
    exchange = paper_exchange(tmp_path)
    await exchange.initialize()
    specs = bots(20)
    await register_bots(redis_client, specs)
    settings = farm_settings()
    stop_gw, stop_worker = asyncio.Event(), asyncio.Event()
    gateway = Gateway(redis_client, exchange, settings, {(b.symbol, b.timeframe) for b in specs})
    worker = Worker(redis_client, settings)
    tasks = [
        asyncio.create_task(gateway.run(stop_gw)),
        asyncio.create_task(worker.run(stop_worker)),
    ]
    try:
        await wait_for(lambda: _true(len(worker.bots) == 20), 10, "20 bots running")

        async def enough_fills() -> bool:
            trades = await exchange.fetch_my_trades()
            owners = {t.order_id for t in trades}
            return len(owners) >= 40

        await wait_for(enough_fills, 15, "40 filled orders")
        for spec in specs:  # stop trading, let the last orders finish
            await redis_client.set(_names.desired(spec.id), "stopped")
        await _view.control_changed(redis_client)  # as `omega bots stop` does: workers re-read
        await wait_for(lambda: _true(not worker.bots), 10, "bots stopped")
        await wait_for(lambda: settled(redis_client, gateway), 10, "commands done, no open orders")
    finally:
        stop_worker.set()
        stop_gw.set()
        await asyncio.gather(*tasks)

    ledgers = await audited_ledgers(redis_client, [s.id for s in specs])
    orders = await exchange.fetch_orders()
    filled = [o for o in orders if o.filled]
    assert len(filled) >= 40
    for order in filled:  # every fill belongs to exactly one bot, which booked all of it
        owners = [b for b, ledger in ledgers.items() if ledger.owns(order.client_order_id or "")]
        assert owners == [order.client_order_id.split("-")[0]]
        mine = ledgers[owners[0]].orders[order.client_order_id]
        assert (mine.filled, mine.cost) == (order.filled, order.cost)
    balance = await exchange.fetch_balance()
    quote_delta = sum((lg.cash - lg.capital for lg in ledgers.values()), Decimal(0))
    exact_free, exact_used = exchange.get_exchange_client().balance_of("USDT")
    assert exact_free + exact_used == QUOTE_START + quote_delta  # exact Decimals, no floats
    for base in {s.symbol.split("/")[0] for s in specs}:
        held = sum((lg.position for lg in ledgers.values() if lg.base == base), Decimal(0))
        asset = balance.assets.get(base)
        free, used = exchange.get_exchange_client().balance_of(base)
        assert free + used == held
        assert (asset.total if asset else Decimal(0)) == held
    await exchange.shutdown()


async def _true(value: bool) -> bool:
    return value

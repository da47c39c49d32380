"""Kill -9 one of three workers while the farm trades: its bots move, nothing is lost or doubled."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from omegafarm.bots.gateway import Gateway
from omegafarm.bots.service import register_bots
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
TTL_S = 2.0


async def _holders(redis: RedisClient, ids: list[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for bot_id in ids:
        value = await redis.get_text(_names.lease(bot_id))
        out[bot_id] = value.split("|")[0] if value else None
    return out


async def _spawn(redis_url: str, farm: str, name: str, log: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "OMEGA_REDIS__URL": redis_url, "OMEGA_REDIS__FARM": farm}
    with log.open("wb") as out:  # the child keeps its own descriptor
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "omegafarm", "--log-level", "warning", "worker",
            "--lease-ttl", str(TTL_S), "--worker-id", name,
            env=env, stdout=out, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip


async def test_killed_worker_bots_move_within_the_lease_ttl_without_duplicates_or_lost_fills(
    redis_client: RedisClient, redis_url: str, tmp_path: Path
) -> None:
    exchange = paper_exchange(tmp_path)
    await exchange.initialize()
    specs = bots(12)
    ids = [s.id for s in specs]
    await register_bots(redis_client, specs)
    stop_gw = asyncio.Event()
    gateway = Gateway(
        redis_client, exchange, farm_settings(TTL_S), {(b.symbol, b.timeframe) for b in specs}
    )
    gw_task = asyncio.create_task(gateway.run(stop_gw))
    farm = redis_client.settings.farm
    procs = {
        f"w{k}": await _spawn(redis_url, farm, f"w{k}", tmp_path / f"w{k}.log") for k in range(3)
    }
    try:

        async def spread_over_three() -> bool:
            held = await _holders(redis_client, ids)
            return None not in held.values() and len(set(held.values())) == 3

        await wait_for(spread_over_three, 90, "12 bots spread over 3 workers (processes start)")
        await wait_for(lambda: _count_fills(exchange, 20), 20, "20 filled orders")
        victim = Counter((await _holders(redis_client, ids)).values()).most_common(1)[0][0]
        assert victim is not None
        victims_bots = [b for b, w in (await _holders(redis_client, ids)).items() if w == victim]
        procs[victim].send_signal(signal.SIGKILL)
        await procs[victim].wait()

        async def moved() -> bool:
            held = await _holders(redis_client, victims_bots)
            return all(w not in (None, victim) for w in held.values())

        # a lease expires TTL after its last renewal; survivors look every TTL/3
        await wait_for(moved, 2 * TTL_S + 2.0, "the dead worker's bots running elsewhere")
        filled_before = len([o for o in await exchange.fetch_orders() if o.filled])
        await wait_for(lambda: _count_fills(exchange, filled_before + 10), 20, "trading goes on")
        for bot_id in ids:
            await redis_client.set(_names.desired(bot_id), "stopped")

        async def all_released() -> bool:
            return set((await _holders(redis_client, ids)).values()) == {None}

        # settling (not what is tested): deadlines that hold on a loaded machine
        await wait_for(all_released, 30, "every bot stopped")
        await wait_for(lambda: settled(redis_client, gateway), 30, "commands done, no open orders")
    finally:
        for proc in procs.values():
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                await proc.wait()
        stop_gw.set()
        await gw_task

    ledgers = await audited_ledgers(redis_client, ids)
    orders = await exchange.fetch_orders()
    cids = [o.client_order_id for o in orders]
    assert len(cids) == len(set(cids))  # no client order id placed twice
    for order in orders:  # every exchange order is one bot's, and its fills are all booked
        owner = ledgers[str(order.client_order_id).split("-")[0]]
        assert owner.owns(str(order.client_order_id))
        mine = owner.orders[str(order.client_order_id)]
        assert (mine.filled, mine.cost, mine.fee) == (order.filled, order.cost, order.fee.cost)
    delta = sum((lg.cash - lg.capital for lg in ledgers.values()), Decimal(0))
    exact_free, exact_used = exchange.get_exchange_client().balance_of("USDT")
    assert exact_free + exact_used == QUOTE_START + delta  # to the last unit, not via floats
    await exchange.shutdown()


async def _count_fills(exchange: object, n: int) -> bool:
    orders = await exchange.fetch_orders()  # type: ignore[attr-defined]
    return len([o for o in orders if o.filled]) >= n


async def _true(value: bool) -> bool:
    return value

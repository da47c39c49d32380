"""A bot on one-minute candles reads "running" the whole time, not "starting" between candles."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from omegafarm.bots import _view
from omegafarm.bots.gateway import Gateway
from omegafarm.bots.service import register_bots
from omegafarm.bots.worker import Worker
from omegafarm.store import RedisClient
from omegafarm.store import keys as _names
from tests.integration._farm import bots, farm_settings, paper_exchange, wait_for

pytestmark = pytest.mark.slow
# the worker's session TTL: renewed every TTL/3, so it lapses (and bots read "starting") only if
# the event loop stalls for a whole TTL; 0.5 s did on a loaded machine. A status record that
# expired (the bug) would live 3 TTL: the window below is four such lifetimes without a candle
TTL_S = 1.0


async def test_status_of_one_minute_bots_never_expires_between_candles(
    redis_client: RedisClient, tmp_path: Path
) -> None:
    exchange = paper_exchange(tmp_path, speed=1.0)  # real-time 1m bars: one closes at most
    await exchange.initialize()
    specs = bots(2)
    await register_bots(redis_client, specs)
    settings = farm_settings(ttl_s=TTL_S)
    stop = asyncio.Event()
    gateway = Gateway(redis_client, exchange, settings, {(b.symbol, b.timeframe) for b in specs})
    worker = Worker(redis_client, settings)
    tasks = [asyncio.create_task(gateway.run(stop)), asyncio.create_task(worker.run(stop))]
    try:

        async def all_running() -> bool:
            return all(r["state"] == "running" for r in await _view.rows(redis_client))

        await wait_for(all_running, 10, "every bot running")
        first = await redis_client.get(_names.status("b00"))
        states: set[str] = set()
        window_end = time.monotonic() + 4 * 3 * TTL_S  # four status lifetimes, <= 1 candle
        while time.monotonic() < window_end:
            states |= {r["state"] for r in await _view.rows(redis_client)}
            await asyncio.sleep(0.05)  # wait-ok: sampling interval of an observation window
        last = await redis_client.get(_names.status("b00"))
        left_s = await redis_client.ttl_s(_names.status("b00"))
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await exchange.shutdown()

    assert states == {"running"}
    assert first is not None and last is not None
    # on one server a status record has no TTL: a bot's liveness is its worker's session
    # (bots/lease.py), renewed once per round for all its bots
    assert left_s is None

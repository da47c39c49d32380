"""Order updates reach a bot by a wake-up, and without one (a lost pub/sub message) by the sweep.

No gateway runs: the test plays its part on Redis (a candle on the market channel, the fill
appended to the bot's update stream, with or without the wake-up the gateway publishes), so
which path delivered the fill is known: with a lease TTL of 60 s the sweep (3 TTLs) cannot
have run within the wait, and with 0.5 s it runs every 1.5 s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from decimal import Decimal

import pytest
import pytest_asyncio

from omegafarm.bots import _view
from omegafarm.bots.config import BotSettings, FarmSettings
from omegafarm.bots.ledger import OrderUpdate
from omegafarm.bots.service import register_bots
from omegafarm.bots.worker import Worker
from omegafarm.store import RedisClient
from omegafarm.store import keys as _names
from tests.integration._farm import wait_for

pytestmark = pytest.mark.slow

BOT = BotSettings(id="wk", strategy="tests.bots._hold:BuyOnce", symbol="BTC/USDT",
                  capital=Decimal(1000))  # fmt: skip


@pytest_asyncio.fixture(loop_scope="session", params=[60.0, 0.5], ids=["wake-up", "sweep"])
async def bought(request: pytest.FixtureRequest, redis_client: RedisClient) -> AsyncIterator[str]:
    """A worker (lease TTL from the param) running a bot that has just sent a buy: its cid."""
    await register_bots(redis_client, [BOT])
    worker = Worker(redis_client, FarmSettings(lease_ttl_s=request.param), "w-wake")
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))

    async def running() -> bool:
        return (await _view.row(redis_client, BOT.id, BOT.model_dump(mode="json")))[
            "state"
        ] == "running" and BOT.id in worker.bots

    await wait_for(running, 20, "the bot running")
    candle = [float(time.time() // 60 * 60_000), 100.0, 101.0, 99.0, 100.0, 5.0]
    sent: list[dict[str, object]] = []

    async def ordered() -> bool:
        await redis_client.publish(_names.candles(BOT.symbol, BOT.timeframe), {"candle": candle})
        sent[:] = [m.data for m in await redis_client.stream_range(_names.COMMANDS)]
        return any(c.get("kind") == "place" for c in sent)

    await wait_for(ordered, 20, "the bot's buy command")
    yield next(str(c["cid"]) for c in sent if c.get("kind") == "place")
    stop.set()
    await task


def _fill(cid: str) -> dict[str, object]:
    update = OrderUpdate(cid, "1", BOT.symbol, "buy", "market", "closed", Decimal("0.001"),
                         Decimal("0.001"), Decimal("0.1"), Decimal(0), None, None,
                         int(time.time() * 1000))  # fmt: skip
    return asdict(update)


async def _position(redis: RedisClient) -> Decimal:
    status = await redis.get(_names.status(BOT.id)) or {}
    return Decimal(str(status.get("position") or 0))


async def test_a_fill_reaches_its_bot_by_the_wake_up_or_else_by_the_sweep(
    bought: str, redis_client: RedisClient, request: pytest.FixtureRequest
) -> None:
    await redis_client.stream_add(_names.updates(BOT.id), _fill(bought))
    if request.node.callspec.id == "wake-up":  # as the gateway does after appending
        await redis_client.publish(_names.bot_wake(BOT.id), 1)
    # else: the wake-up was lost (pub/sub is at-most-once): the stream is still the truth

    async def filled() -> bool:
        return await _position(redis_client) == Decimal("0.001")

    await wait_for(filled, 15, "the fill applied to the bot's ledger")
    assert await redis_client.stream_pending(_names.updates(BOT.id), _names.UPDATES_GROUP) == 0

"""Candles a worker's subscription lost (pub/sub is at-most-once) are filled from the history.

No gateway runs: the test plays its part on Redis as the gateway does (append the candle to the
market's history key, then publish it with ``prev``, the candle before it), and leaves some
candles unpublished, as a subscription that was reconnecting would have missed them. The bot's
feed must still hold every bar, in order, and the worker counts the repair.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
import pytest_asyncio
from redis.asyncio import from_url

from omegafarm.bots.config import BotSettings, FarmSettings
from omegafarm.bots.service import register_bots
from omegafarm.bots.worker import Worker
from omegafarm.store import RedisClient
from omegafarm.store import keys as _names
from tests._redis import kill_pubsub_connections
from tests.integration._farm import wait_for

pytestmark = pytest.mark.slow

BOT = BotSettings(id="gap", strategy="tests.bots._hold:Hold", symbol="BTC/USDT",
                  capital=Decimal(1000))  # fmt: skip
T0 = 1_700_000_000_000
TF_MS = 60_000


def _candle(i: int) -> list[float]:
    return [float(T0 + i * TF_MS), 100.0 + i, 101.0 + i, 99.0 + i, 100.5 + i, 5.0]


@dataclass
class Market:
    """The gateway's side of one market: its history key and its candle channel."""

    redis: RedisClient
    history: list[list[float]]

    async def close(self, i: int, *, publish: bool = True) -> None:
        """Candle ``i`` closes: into the history, then (unless lost) on the channel."""
        prev = self.history[-1][0]
        self.history.append(_candle(i))
        await self.redis.set(_names.history(BOT.symbol, BOT.timeframe), self.history)
        if publish:
            await self.redis.publish(_names.candles(BOT.symbol, BOT.timeframe),
                                     {"candle": _candle(i), "prev": prev})  # fmt: skip


@pytest_asyncio.fixture(loop_scope="session")
async def farm(redis_client: RedisClient, redis_url: str) -> AsyncIterator[tuple[Worker, Market]]:
    """A worker running the bot on a 20-candle history, subscribed to its candles."""
    market = Market(redis_client, [_candle(i) for i in range(20)])
    await redis_client.set(_names.history(BOT.symbol, BOT.timeframe), market.history)
    await register_bots(redis_client, [BOT])
    worker = Worker(redis_client, FarmSettings(lease_ttl_s=60), "w-gap")
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))

    channel = redis_client.keys.channel(_names.candles(BOT.symbol, BOT.timeframe))
    server = from_url(redis_url)

    async def subscribed() -> bool:  # as the server sees it: a candle sent now is heard
        bot = worker.bots.get(BOT.id)
        listeners = dict(await server.pubsub_numsub(channel)).get(channel.encode(), 0)
        return bot is not None and bot.trader is not None and int(listeners) > 0

    try:
        await wait_for(subscribed, 20, "the bot running and its worker subscribed")
    finally:
        await server.aclose()
    yield worker, market
    stop.set()
    await task


def _feed_times(worker: Worker) -> list[int]:
    trader = worker.bots[BOT.id].trader
    assert trader is not None
    return [int(t) for t in trader.feed.ts_ms]


async def _fed_up_to(worker: Worker, i: int, *, filled: int = 0) -> None:
    """Candle ``i`` is in the bot's feed and the worker counted ``filled`` (the worker counts
    once the bot's event is saved, a moment after the feed has the candle)."""

    async def there() -> bool:
        times = _feed_times(worker)
        return bool(times) and times[-1] == T0 + i * TF_MS and worker.candles_filled >= filled

    await wait_for(there, 15, f"candle {i} in the bot's feed, {filled} filled")


async def test_candles_lost_before_a_published_one_are_filled_from_the_history(
    farm: tuple[Worker, Market],
) -> None:
    worker, market = farm
    await market.close(20)
    await _fed_up_to(worker, 20)
    assert worker.candles_filled == 0  # nothing missed, nothing read
    await market.close(21, publish=False)  # lost: the subscription was reconnecting
    await market.close(22, publish=False)
    await market.close(23)
    await _fed_up_to(worker, 23, filled=2)
    assert _feed_times(worker) == [T0 + i * TF_MS for i in range(24)]  # every bar, in order
    assert worker.candles_filled == 2
    assert worker.heartbeat()["candles_filled"] == 2  # told to the farm


async def test_a_reconnected_worker_catches_up_without_waiting_for_the_next_candle(
    farm: tuple[Worker, Market], redis_url: str
) -> None:
    worker, market = farm
    await market.close(20)
    await _fed_up_to(worker, 20)
    await market.close(21, publish=False)  # published while the connection was down
    await market.close(22, publish=False)
    await kill_pubsub_connections(redis_url)  # the worker's pub/sub connection breaks
    await _fed_up_to(worker, 22, filled=1)  # no candle 23 is ever sent: the catch-up did it
    assert _feed_times(worker) == [T0 + i * TF_MS for i in range(23)]
    assert worker.candles_filled == 1  # 21 filled; 22 was delivered as the newest

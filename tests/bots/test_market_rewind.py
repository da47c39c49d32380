"""A market whose clock went back (a reset or non-durable paper exchange) never idles bots."""

from __future__ import annotations

from pathlib import Path

import pytest

from omegafarm.bots.config import BotSettings, FarmSettings
from omegafarm.bots.gateway import Gateway
from omegafarm.bots.lease import Leases
from omegafarm.bots.live import FeedRewoundError, LiveBot
from omegafarm.store import RedisClient
from omegafarm.store import keys as _names
from tests.integration._farm import paper_exchange

MIN_MS = 60_000
FUTURE_MS = 4_000_000_000_000  # far ahead of the paper market's clock


async def test_a_candle_older_than_the_history_restarts_the_bot_a_repeat_does_not(
    redis_client: RedisClient,
) -> None:
    history = [[float(FUTURE_MS + i * MIN_MS), 1.0, 1.0, 1.0, 1.0, 1.0] for i in range(50)]
    await redis_client.set(_names.history("BTC/USDT", "1m"), history)
    leases = Leases(redis_client, "w1", 5.0)
    lease = await leases.acquire("b1")
    assert lease is not None
    bot = LiveBot(BotSettings(id="b1", strategy="sma_cross", symbol="BTC/USDT"),
                  redis_client, leases, lease)  # fmt: skip
    await bot.start()

    await bot.on_candle(history[-1])  # the same bar again: ignored, as always

    with pytest.raises(FeedRewoundError, match="older than its history"):
        await bot.on_candle([float(FUTURE_MS - 10 * MIN_MS), 1.0, 1.0, 1.0, 1.0, 1.0])


async def test_a_gateway_finding_the_market_behind_the_history_starts_the_history_afresh(
    redis_client: RedisClient, tmp_path: Path
) -> None:
    ahead = [[float(FUTURE_MS + i * MIN_MS), 1.0, 1.0, 1.0, 1.0, 1.0] for i in range(5)]
    await redis_client.set(_names.history("BTC/USDT", "1m"), ahead)
    exchange = paper_exchange(tmp_path)
    await exchange.initialize()
    gateway = Gateway(redis_client, exchange, FarmSettings(history_bars=20), set())

    await gateway.market.catch_up("BTC/USDT", "1m")

    history = await redis_client.get(_names.history("BTC/USDT", "1m"))
    assert len(history) == 20 and history[-1][0] < FUTURE_MS  # the market's own bars now
    await exchange.shutdown()

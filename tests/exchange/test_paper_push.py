"""The paper exchange pushes order changes and closed bars (no polling), saved before told."""

from __future__ import annotations

import asyncio

from omegafarm.exchange.paper import PaperSettings
from omegafarm.exchange.paper.journal import DurablePaperExchange, DurablePaperVenue, saved_state
from omegafarm.store import RedisClient

SETTINGS = PaperSettings(symbols=["BTC/USDT"], clock="manual", warmup_bars=50, perpetuals=False)


async def test_a_fill_is_pushed_once_the_durable_exchange_has_saved_it(
    redis_client: RedisClient,
) -> None:
    venue = DurablePaperVenue(await DurablePaperExchange.open(SETTINGS, redis_client))
    stream = venue.open_stream()
    await venue.exchange.create_order(
        "BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "p-1"}
    )
    try:
        placed = await asyncio.wait_for(stream.watch_orders(), timeout=5)
        venue.exchange.advance()  # the clock moves: the order fills (nobody asked)
        filled = await asyncio.wait_for(stream.watch_orders(), timeout=5)
        saved = await saved_state(redis_client)
        candles = await asyncio.wait_for(stream.watch_candles([("BTC/USDT", "1m")], {}), 5)
    finally:
        await stream.close()

    assert [(o.client_order_id, o.status) for o in placed] == [("p-1", "open")]
    assert [(o.client_order_id, o.status) for o in filled] == [("p-1", "closed")]
    assert saved is not None and saved["fill_seq"] == 1  # in Redis before it was told
    assert candles and candles[0].rows.shape == (1, 6)
    assert stream.kinds == {"ohlcv", "tickers", "orders"}

"""The paper exchange pushes order changes and closed bars (no polling), saved before told."""

from __future__ import annotations

import asyncio
import contextlib
import gc

import ccxt
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from omegafarm.exchange.paper import PaperSettings
from omegafarm.exchange.paper.journal import DurablePaperExchange, DurablePaperVenue, saved_state
from omegafarm.store import RedisClient, RedisSettings

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


async def test_a_restored_exchange_pushes_to_the_new_stream_when_the_old_one_closes_late(
    redis_client: RedisClient,
) -> None:
    # A gateway term ends and a new one takes over (a primary restart, e.g. a Redis failover):
    # the new term reloads the saved exchange and opens its stream while the old term's stream
    # is still closing (its close waits on a dead server for up to its timeout).
    first = await DurablePaperExchange.open(SETTINGS, redis_client)
    venue = DurablePaperVenue(first)
    old = venue.open_stream()
    await venue.exchange.create_order(
        "BTC/USDT", "limit", "buy", 0.01, 1_000.0, params={"clientOrderId": "p-1"}
    )
    await venue.exchange.take_over()  # the new term: the saved exchange, reloaded
    new = venue.open_stream()
    await old.close()  # the old term's close finishes last
    try:
        await venue.exchange.cancel_order("1", "BTC/USDT")  # an order of the restored book
        changed = await asyncio.wait_for(new.watch_orders(), timeout=5)
    finally:
        await new.close()

    assert [(o.client_order_id, o.status) for o in changed] == [("p-1", "canceled")]


async def test_a_driver_that_fails_unwatched_is_logged_when_it_fails_not_by_the_collector(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The durable exchange's Redis client goes away while nobody watches the stream (a term
    # that ended without closing it): the driver's failure is logged as it happens, and the
    # task's exception does not surface later as asyncio's "never retrieved", at whatever
    # moment (and in whatever test or command) the collector happens to run.
    client = RedisClient(
        RedisSettings(url=SecretStr(redis_url), farm="push-fail"),
        metrics_registry=CollectorRegistry(),
    )
    await client.initialize()
    venue = DurablePaperVenue(await DurablePaperExchange.open(SETTINGS, client))
    stream = venue.open_stream()
    watcher = asyncio.create_task(stream.watch_orders())
    await asyncio.sleep(0)  # wait-ok: one turn, so the watcher starts the driver
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher
    driver = stream._driver  # the task under test
    assert driver is not None
    unhandled: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: unhandled.append(ctx))
    await client.shutdown()
    with pytest.raises(ccxt.ExchangeNotAvailable):  # its save fails too, after telling the stream
        await venue.exchange.create_order(
            "BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "p-2"}
        )
    await asyncio.wait_for(asyncio.wait({driver}), timeout=5)
    del driver, stream, venue, watcher
    gc.collect()

    assert "paper_push_stopped" in capsys.readouterr().out
    assert unhandled == []

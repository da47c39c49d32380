"""The gateway on streams: fills reach the bots' update streams as the exchange pushes them (a
loopback Binance stream through real ccxt.pro, or the paper engine in process), gaps after a
drop are filled by REST by client order id, and nothing polls ``fetch_order`` meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from omegafarm.bots.config import FarmSettings
from omegafarm.bots.gateway import Gateway
from omegafarm.bots.ledger import OrderUpdate
from omegafarm.exchange import ExchangeService, ExchangeSettings, Order
from omegafarm.exchange.paper import PaperSettings
from omegafarm.exchange.testing_stream import LoopbackBinanceStream, execution_report
from omegafarm.store import RedisClient
from omegafarm.store import keys as _names
from tests.exchange import test_stream_binance
from tests.exchange._binance import HOUR_MS, MiniBinance, btc_usdt_market
from tests.exchange._replay import replay_service
from tests.exchange.test_stream_binance import NOW_BAR, _bar, _binance, _row, now_bar
from tests.integration._farm import wait_for

SETTINGS = FarmSettings(lease_ttl_s=2.0, poll_interval_s=0.05, reconcile_interval_s=0,
                        history_bars=50)  # fmt: skip
LIMIT = {"kind": "place", "symbol": "BTC/USDT", "side": "buy", "type": "limit",
         "amount": "0.01", "price": "50000", "bot_id": "b1", "token": 1}  # fmt: skip


@pytest.fixture(autouse=True)
def _now_bar_of_the_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """``NOW_BAR`` (here and in the venue's bars) is the hour forming when the test runs, not
    when the suite was collected: a run may cross the hour."""
    bar = now_bar()
    monkeypatch.setattr(f"{__name__}.NOW_BAR", bar)
    monkeypatch.setattr(test_stream_binance, "NOW_BAR", bar)


async def _updates(redis: RedisClient, bot: str = "b1") -> list[OrderUpdate]:
    return [OrderUpdate(**m.data) for m in await redis.stream_range(_names.updates(bot))]


async def _has(redis: RedisClient, cid: str, status: str) -> bool:
    return any(u.client_order_id == cid and u.status == status for u in await _updates(redis))


async def _true(value: bool) -> bool:
    return value


def _order_status_requests(venue: MiniBinance) -> list[str | None]:
    return [r.param("origClientOrderId") or r.param("orderId") for r in venue.server.requests
            if r.path.endswith("/order") and r.method == "GET"]  # fmt: skip


def _market_data_requests(venue: MiniBinance) -> int:
    return sum(1 for r in venue.server.requests if r.path.endswith(("/klines", "/ticker/24hr")))


@pytest.fixture
async def binance_gateway(
    redis_client: RedisClient, tmp_path: Path
) -> AsyncIterator[tuple[MiniBinance, LoopbackBinanceStream, Gateway]]:
    venue = _binance(closed_up_to=3)
    async with (
        venue.server,
        LoopbackBinanceStream() as ws,
        replay_service(
            "binance", venue.server, tmp_path, markets={"BTC/USDT": btc_usdt_market()},
            stream_base_url=ws.url, stream_settle_s=0.2, stream_backoff_max_s=0.4,
        ) as ex,
    ):  # fmt: skip
        gateway = Gateway(redis_client, ex, SETTINGS, {("BTC/USDT", "1h")}, gateway_id="gs")
        stop = asyncio.Event()
        task = asyncio.create_task(gateway.run(stop))
        try:
            await ws.wait_subscribed(["btcusdt@kline_1h", "btcusdt@ticker", "user"])
            await wait_for(lambda: _true(_caught_up(gateway)), 15, "the first gap filled")
            yield venue, ws, gateway
        finally:
            stop.set()
            await task


def _caught_up(gateway: Gateway) -> bool:
    """The stream's gap fills after connecting (settled, then confirmed) are done."""
    stream = gateway.market.stream
    stats = stream.stats() if stream is not None else {}
    return bool(stats) and all(stats[k]["gap_fills"] >= 2 for k in ("ohlcv", "orders"))


def _commands(gateway: Gateway) -> str:
    """The command stream of bot b1's partition (where its live bot sends)."""
    return _names.partition_commands(gateway.partition_of("b1"))


async def _place(redis: RedisClient, cid: str, gateway: Gateway) -> None:
    await redis.stream_add(_commands(gateway), {**LIMIT, "cid": cid})
    await wait_for(lambda: _has(redis, cid, "open"), 10, f"{cid} acknowledged")


async def test_a_streamed_fill_reaches_the_bot_and_nothing_polls_the_order(
    redis_client: RedisClient,
    binance_gateway: tuple[MiniBinance, LoopbackBinanceStream, Gateway],
) -> None:
    venue, ws, gateway = binance_gateway
    candles = await redis_client.subscribe(_names.candles("BTC/USDT", "1h"))
    market_data_before = _market_data_requests(venue)
    await _place(redis_client, "b1-1", gateway)

    venue.fill("b1-1", "0.004", "50000")
    await ws.user_event(execution_report(venue.orders[0], last_qty="0.004", last_price="50000"))
    await wait_for(lambda: _true(gateway.market.orders_published >= 1), 10, "a partial fill")
    venue.fill("b1-1", "0.006", "50000")
    await ws.user_event(execution_report(venue.orders[0], last_qty="0.006", last_price="50000"))
    await wait_for(lambda: _has(redis_client, "b1-1", "closed"), 10, "the fill at the bot")
    await ws.kline("BTCUSDT", "1h", _row(2), closed=True, interval_ms=HOUR_MS)
    await ws.kline("BTCUSDT", "1h", _row(1), closed=False, interval_ms=HOUR_MS)
    message = await candles.get(timeout_s=10)
    await candles.close()

    fills = [(u.status, u.filled) for u in await _updates(redis_client)]
    assert fills == [("open", 0), ("open", Decimal("0.004")), ("closed", Decimal("0.01"))]
    assert _order_status_requests(venue) == []  # no fetch_order: the stream told
    assert _market_data_requests(venue) == market_data_before  # candles came by stream too
    assert message is not None and message.data["candle"][0] == NOW_BAR - 2 * HOUR_MS
    history = await redis_client.get(_names.history("BTC/USDT", "1h"))
    assert history[-1][0] == NOW_BAR - 2 * HOUR_MS  # never the bar still forming
    # the candle before it rides along: a worker that lost a message sees the hole
    assert message.data["prev"] == history[-2][0]
    assert gateway.health()[1] is False  # not degraded
    assert "b1-1" not in gateway._open


async def test_a_fill_during_a_disconnect_is_found_by_client_order_id_and_reaches_the_bot(
    redis_client: RedisClient,
    binance_gateway: tuple[MiniBinance, LoopbackBinanceStream, Gateway],
) -> None:
    venue, ws, gateway = binance_gateway
    await _place(redis_client, "b1-2", gateway)

    ws.refusing = True
    ws.drop()
    await wait_for(lambda: _true(gateway.health()[1]), 10, "the gateway degraded")
    ready, degraded, reason = gateway.health()
    venue.candles[NOW_BAR - 2 * HOUR_MS] = _bar(2)  # closed while the stream was down
    venue.fill("b1-2", "0.01", "50000")  # nobody streams this one
    await wait_for(lambda: _has(redis_client, "b1-2", "closed"), 10, "the missed fill")
    ws.refusing = False
    await wait_for(lambda: _true(not gateway.health()[1]), 15, "the stream back")

    assert ready and degraded and "orders stream down" in reason and "REST fallback" in reason
    assert "b1-2" in _order_status_requests(venue)  # looked up by client order id
    history = await redis_client.get(_names.history("BTC/USDT", "1h"))
    assert [row[0] for row in history].count(NOW_BAR - 2 * HOUR_MS) == 1
    stats = gateway.market.stream.stats() if gateway.market.stream else {}
    assert stats["orders"]["disconnects"] == 1


# ----------------------------------------------------------------- the paper exchange pushes
@pytest.fixture
async def paper(tmp_path: Path) -> AsyncIterator[ExchangeService]:
    settings = ExchangeSettings(
        exchange_id="paper", ohlcv_cache_path=tmp_path / "c.db", stream_settle_s=0.1,
        paper=PaperSettings(clock="manual", symbols=["BTC/USDT"], perpetuals=False,
                            warmup_bars=60),
    )  # fmt: skip
    ex = ExchangeService(settings, metrics_registry=CollectorRegistry())
    async with ex:
        yield ex


async def test_a_paper_fill_reaches_the_update_stream_without_any_fetch_order(
    redis_client: RedisClient, paper: ExchangeService
) -> None:
    gateway = Gateway(redis_client, paper, SETTINGS, {("BTC/USDT", "1m")}, gateway_id="gp")
    stop = asyncio.Event()
    task = asyncio.create_task(gateway.run(stop))
    try:
        await wait_for(lambda: _true(_caught_up(gateway)), 10, "market data on, caught up")
        before = (await redis_client.get(_names.history("BTC/USDT", "1m")))[-1][0]
        market: dict[str, Any] = {**LIMIT, "type": "market", "price": None, "amount": "0.001"}
        await redis_client.stream_add(_commands(gateway), {**market, "cid": "b1-9"})
        await wait_for(lambda: _has(redis_client, "b1-9", "open"), 10, "acknowledged")

        paper.get_exchange_client().advance()  # the next bar opens: the order fills
        await wait_for(lambda: _has(redis_client, "b1-9", "closed"), 10, "the fill pushed")
        history = await redis_client.get(_names.history("BTC/USDT", "1m"))
    finally:
        stop.set()
        await task

    assert paper.get_metrics()["operations"].get("fetch_order", 0) == 0
    assert history[-1][0] > before  # the closed bar was pushed too
    assert gateway.market.stream is None  # closed with the term


async def test_without_streams_the_gateway_polls_open_orders_by_rest(
    redis_client: RedisClient, tmp_path: Path
) -> None:
    venue = _binance(closed_up_to=3)
    async with (
        venue.server,
        replay_service("binance", venue.server, tmp_path,
                       markets={"BTC/USDT": btc_usdt_market()}) as ex,
    ):  # fmt: skip
        assert ex.stream_kinds == frozenset()  # a REST test server says nothing of streams
        gateway = Gateway(redis_client, ex, SETTINGS, {("BTC/USDT", "1h")}, gateway_id="gr")
        stop = asyncio.Event()
        task = asyncio.create_task(gateway.run(stop))
        try:
            await _place(redis_client, "b1-5", gateway)
            venue.fill("b1-5", "0.01", "50000")
            await wait_for(lambda: _has(redis_client, "b1-5", "closed"), 10, "the polled fill")
            health = gateway.health()
        finally:
            stop.set()
            await task

    assert "b1-5" in _order_status_requests(venue)  # fetch_order by client order id
    assert health[1] is False  # polling by design is not degraded


async def test_the_history_never_takes_the_bar_still_forming(
    redis_client: RedisClient, tmp_path: Path
) -> None:
    venue = _binance(closed_up_to=0)  # REST answers every bar up to the one forming now
    async with (
        venue.server,
        replay_service("binance", venue.server, tmp_path,
                       markets={"BTC/USDT": btc_usdt_market()}) as ex,
    ):  # fmt: skip
        gateway = Gateway(redis_client, ex, SETTINGS, {("BTC/USDT", "1h")})
        newest = await gateway.market.catch_up("BTC/USDT", "1h")

    history = await redis_client.get(_names.history("BTC/USDT", "1h"))
    assert newest == history[-1][0] == NOW_BAR - HOUR_MS


def _order(cid: str, status: str, filled: str) -> OrderUpdate:
    return OrderUpdate(cid, f"x{cid}", "BTC/USDT", "buy", "limit", status, Decimal("0.01"),
                       Decimal(filled), Decimal(filled) * 50_000, Decimal(0), None,
                       Decimal(50_000), 1)  # fmt: skip


async def test_an_ended_order_leaves_the_open_orders_whatever_the_order_of_its_updates(
    redis_client: RedisClient, paper: ExchangeService
) -> None:
    """Every path that tells a bot about an order publishes on its own task: the command's
    answer, the stream's push, the early queue, the REST looks. An answer older than the push
    that ended the order (a create's "open" that finishes after the fill, a REST read taken
    before it) re-opened the order at the gateway: it stayed among the open orders (until the
    quiet look, 10-20 s later, counted its end as a missed push), in the partition's saved map,
    and its record lost its expiry."""
    gateway = Gateway(redis_client, paper, SETTINGS, {("BTC/USDT", "1m")}, gateway_id="go")
    p = gateway.partition_of("b1")
    stop = asyncio.Event()
    task = asyncio.create_task(gateway.run(stop))
    try:
        await wait_for(lambda: _true(p in gateway.partitions and gateway.partitions[p].loaded),
                       10, "b1's partition held")  # fmt: skip
        desk = gateway.orders
        await desk.publish("b1", _order("b1-7", "open", "0"))  # acknowledged, told
        await desk.publish("b1", _order("b1-7", "closed", "0.01"))  # the push: filled
        late = await desk.publish("b1", _order("b1-7", "open", "0"))  # an older answer, after
        reopened = "b1-7" in gateway._open
        # racing: the push's fill starts first, the create's acknowledgement right behind it
        racing = await asyncio.gather(desk.publish("b1", _order("b1-8", "closed", "0.01")),
                                      desk.publish("b1", _order("b1-8", "open", "0")))  # fmt: skip
        saved = await redis_client.get(_names.partition_open(p)) or {}
        expiries = [await redis_client.ttl_s(_names.order_record(c)) for c in ("b1-7", "b1-8")]
        told = {u.client_order_id: u.status for u in await _updates(redis_client)}
    finally:
        stop.set()
        await task

    assert (late, racing) == (False, [True, False])  # the older answers are dropped
    assert not reopened and "b1-7" not in gateway._open and "b1-8" not in gateway._open
    assert "b1-7" not in saved and "b1-8" not in saved
    assert all(ttl is not None and ttl > 0 for ttl in expiries)  # the records still expire
    assert told == {"b1-7": "closed", "b1-8": "closed"}  # the bot's last word is the fill
    assert gateway.orders.stale_dropped == 2


def _pushed(cid: str, status: str, filled: str) -> Order:
    """``cid`` as the exchange's stream (or a REST read) reports it."""
    return Order(
        id=f"x{cid}", client_order_id=cid, symbol="BTC/USDT", type="limit", side="buy",
        status=status, price=Decimal(50_000), average=None, amount=Decimal("0.01"),
        filled=Decimal(filled), remaining=None, cost=Decimal(filled) * 50_000, fee=None,
        time_in_force=None, post_only=None, reduce_only=None, trigger_price=None,
        timestamp_ms=1, last_trade_timestamp_ms=None,
    )  # fmt: skip


async def _last_told(redis: RedisClient, cid: str) -> str:
    return [u.status for u in await _updates(redis) if u.client_order_id == cid][-1]


async def test_a_fill_that_replaces_an_early_update_while_the_queue_is_delivered_is_not_lost(
    redis_client: RedisClient, paper: ExchangeService
) -> None:
    """Pushes of orders whose creates have not answered yet wait in the early queue. Delivering
    one waits on its publication (here: its create's own publication still holds the order's
    lock); meanwhile a second order's fill replaces that order's "open" in the queue. The queue
    was walked from a copy taken before: the stale "open" was delivered and the fill deleted
    with it, so the order stayed open at its bot and at the gateway for good (the 20-bot farm
    test's "waiting for no open orders" in the parallel CI, seen with a diagnostic dump)."""
    gateway = Gateway(redis_client, paper, SETTINGS, {("BTC/USDT", "1m")}, gateway_id="ge")
    market, desk = gateway.market, gateway.orders  # driven here, without the gateway's loops
    assert not await market._on_order(_pushed("b1-30", "closed", "0.01"))  # before its create
    assert not await market._on_order(_pushed("b1-31", "open", "0"))
    await desk.publish("b1", _order("b1-30", "open", "0"))  # b1-30's create answered
    create_publishing = asyncio.Lock()
    await create_publishing.acquire()
    desk._publishing["b1-30"] = (create_publishing, 1)  # ... and is still being written
    resolving = asyncio.create_task(market._resolve_early())
    await wait_for(lambda: _true("b1-30" not in market._early), 10, "b1-30 taken from the queue")
    assert not await market._on_order(_pushed("b1-31", "closed", "0.01"))  # b1-31 fills
    await desk.publish("b1", _order("b1-31", "open", "0"))  # b1-31's create answers
    create_publishing.release()
    await asyncio.wait_for(resolving, 10)

    assert await _last_told(redis_client, "b1-30") == "closed"
    assert await _last_told(redis_client, "b1-31") == "closed"  # was "open", the fill lost
    assert "b1-31" not in gateway._open and not market._early


async def test_commands_not_executed_yet_are_counted_until_the_gateway_runs_them(
    redis_client: RedisClient, paper: ExchangeService
) -> None:
    """The farm status' ``commands_waiting``: what the bots sent and no gateway executed."""
    gateway = Gateway(redis_client, paper, SETTINGS, {("BTC/USDT", "1m")}, gateway_id="gw")
    idle = await gateway.commands_waiting()
    for n in (50, 51):  # sent while no gateway runs
        await redis_client.stream_add(_commands(gateway), {**LIMIT, "cid": f"b1-{n}"})
    waiting = await gateway.commands_waiting()
    stop = asyncio.Event()
    task = asyncio.create_task(gateway.run(stop))
    try:
        await wait_for(lambda: _has(redis_client, "b1-51", "open"), 10, "both executed")
        await wait_for(lambda: _zero(gateway.commands_waiting()), 10, "nothing waiting")
    finally:
        stop.set()
        await task

    assert (idle, waiting) == (0, 2)


async def _zero(count: Awaitable[int]) -> bool:
    return await count == 0


async def test_the_early_queue_keeps_the_newest_update_of_an_order(
    redis_client: RedisClient, paper: ExchangeService
) -> None:
    """A REST read taken before a fill (a gap fill, a take-over's look) that arrives after the
    pushed fill, both before the create's answer, does not replace the fill in the queue."""
    gateway = Gateway(redis_client, paper, SETTINGS, {("BTC/USDT", "1m")}, gateway_id="gk")
    market, desk = gateway.market, gateway.orders
    await market._on_order(_pushed("b1-40", "closed", "0.01"))  # the push: filled
    await market._on_order(_pushed("b1-40", "open", "0"))  # an older read, after it
    await market._on_order(_pushed("b1-41", "open", "0"))
    await market._on_order(_pushed("b1-41", "open", "0.004"))  # a partial fill is newer
    kept = {cid: (o.status, o.filled) for cid, (_, o) in market._early.items()}
    for cid in ("b1-40", "b1-41"):
        await desk.publish("b1", _order(cid, "open", "0"))  # the creates answer
    await market._resolve_early()

    assert kept == {"b1-40": ("closed", Decimal("0.01")), "b1-41": ("open", Decimal("0.004"))}
    assert await _last_told(redis_client, "b1-40") == "closed"
    assert "b1-40" not in gateway._open and "b1-41" in gateway._open


@pytest.fixture(params=["durable", "plain"])
async def either_paper(
    tmp_path: Path, redis_client: RedisClient, request: pytest.FixtureRequest
) -> AsyncIterator[ExchangeService]:
    """The paper exchange of ``omega up`` (saved in the farm's Redis, hosted by the primary),
    and the plain one (one process's own simulation)."""
    settings = ExchangeSettings(
        exchange_id="paper", ohlcv_cache_path=tmp_path / "c.db", stream_settle_s=0.1,
        paper=PaperSettings(clock="manual", symbols=["BTC/USDT"], perpetuals=False,
                            warmup_bars=60),
    )  # fmt: skip
    redis = redis_client if request.param == "durable" else None
    ex = ExchangeService(settings, redis=redis, metrics_registry=CollectorRegistry())
    async with ex:
        yield ex


async def test_a_missed_paper_push_is_found_counted_and_reported_in_health(
    redis_client: RedisClient, either_paper: ExchangeService
) -> None:
    """The original gap: the engine's listener cleared (a closing stream of an ended term did
    it) and an order's fill is never pushed. The quiet look finds it, the bot is told, and the
    repair is visible: the count, the farm status' ``repairs`` and a health warning. On the
    plain paper exchange too (not fenced by the lease, but in process: the look is free); it
    had no quiet look, so a missed push left the order open for good."""
    paper = either_paper
    gateway = Gateway(redis_client, paper, SETTINGS, {("BTC/USDT", "1m")}, gateway_id="gm")
    stop = asyncio.Event()
    task = asyncio.create_task(gateway.run(stop))
    try:
        await wait_for(lambda: _true(_caught_up(gateway)), 10, "market data on, caught up")
        healthy = gateway.health()
        engine = paper.get_exchange_client()
        engine.set_listener(None)  # the fault: nobody hears the engine any more
        market: dict[str, Any] = {**LIMIT, "type": "market", "price": None, "amount": "0.001"}
        await redis_client.stream_add(_commands(gateway), {**market, "cid": "b1-3"})
        await wait_for(lambda: _has(redis_client, "b1-3", "open"), 10, "acknowledged")
        gateway.orders.quiet_order_s = 0.3  # look soon (10 s in a farm)
        engine.advance()  # the next bar opens: the order fills, unheard
        await wait_for(lambda: _has(redis_client, "b1-3", "closed"), 10, "the fill found")
        # the look counts what it found once its publication returns, just after the bot's
        # stream has the fill: wait for the count, not only for the fill
        await wait_for(lambda: _true(gateway.orders.push_missed >= 1), 10, "the repair counted")
        health = gateway.health()
        repairs = gateway.repairs()
    finally:
        stop.set()
        await task

    assert healthy[1] is False and "push missed" not in healthy[2]
    assert gateway.orders.push_missed == 1
    assert repairs["push_missed"] == repairs["push_missed_recent"] == 1
    assert repairs["last_push_missed_ms"] is not None and repairs["stale_updates_dropped"] == 0
    ready, degraded, reason = health
    assert ready and degraded  # a warning: the fill got through, late
    assert "1 order changes the exchange's push missed in the last 10 min" in reason

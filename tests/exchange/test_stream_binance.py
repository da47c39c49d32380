"""Streaming on Binance through real ccxt.pro: a loopback WebSocket server speaking Binance's
stream format (klines, 24 h tickers, execution reports) and the loopback REST server for what
ccxt asks by REST (orders, and the gap fills after a drop)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from omegafarm.exchange import ExchangeService, Order, Ticker
from omegafarm.exchange.ccxt_stream import CcxtStream
from omegafarm.exchange.stream import (
    Candles,
    MarketStream,
    StreamHandlers,
    StreamSettings,
    TrackedOrder,
)
from omegafarm.exchange.testing_stream import LoopbackBinanceStream, execution_report
from tests.exchange._binance import HOUR_MS, MiniBinance, btc_usdt_market
from tests.exchange._replay import replay_service

MARKET = ("BTC/USDT", "1h")
REST_ONLY = ("/klines", "/ticker/24hr", "/ticker/price")  # market data asked by REST


def now_bar() -> int:
    """The hour bar forming now."""
    return int(time.time() * 1000) // HOUR_MS * HOUR_MS


NOW_BAR = now_bar()  # set again for every test (below): a run may cross the hour


@pytest.fixture(autouse=True)
def _now_bar_of_the_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """``NOW_BAR`` is the hour forming when the test runs, not when the suite was collected."""
    monkeypatch.setattr(f"{__name__}.NOW_BAR", now_bar())


@dataclass
class Inbox:
    """What the stream delivered, in order, with an event per arrival."""

    candles: list[int] = field(default_factory=list)
    tickers: list[Decimal] = field(default_factory=list)
    orders: list[tuple[str, str, Decimal]] = field(default_factory=list)
    tracked: list[TrackedOrder] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_candles(self, batch: Candles) -> None:
        self.candles += [int(ts) for ts in batch.rows[:, 0]]
        self.changed.set()

    async def on_tickers(self, tickers: dict[str, Ticker]) -> None:
        self.tickers += [t.last for t in tickers.values() if t.last is not None]
        self.changed.set()

    async def on_order(self, order: Order) -> bool:
        seen = (str(order.client_order_id), str(order.status), order.filled or Decimal(0))
        news = not self.orders or self.orders[-1] != seen
        self.orders.append(seen)
        self.changed.set()
        return news

    def handlers(self) -> StreamHandlers:
        return StreamHandlers(self.on_candles, self.on_tickers, self.on_order, lambda: self.tracked)

    async def until(self, what: str, check: object, timeout_s: float = 10.0) -> None:
        """Wait (on arrivals) until ``check()`` holds."""
        assert callable(check)
        async with asyncio.timeout(timeout_s):
            while not check():
                self.changed.clear()
                try:
                    await asyncio.wait_for(self.changed.wait(), timeout=0.2)
                except TimeoutError:  # a state change without a delivery (health): look again
                    continue
        assert check(), what


def _bar(i: int) -> list[object]:
    """MiniBinance's kline row of the bar ``i`` hours before the forming one."""
    ts = NOW_BAR - i * HOUR_MS
    o = 100.0 + (10 - i)
    return [ts, str(o), str(o + 2), str(o - 1), str(o + 1), "10.5", ts + HOUR_MS - 1, "0", 1]


def _row(i: int) -> list[float]:
    bar = _bar(i)
    return [float(bar[0]), float(bar[1]), float(bar[2]), float(bar[3]), float(bar[4]), 10.5]  # type: ignore[arg-type]


def _binance(closed_up_to: int) -> MiniBinance:
    """REST with the hour bars from 6 h ago to ``closed_up_to`` hours ago."""
    venue = MiniBinance(bars=0)
    for i in range(6, closed_up_to - 1, -1):
        venue.candles[NOW_BAR - i * HOUR_MS] = _bar(i)
    return venue


@pytest.fixture
async def wired(
    tmp_path: Path,
) -> AsyncIterator[tuple[MiniBinance, LoopbackBinanceStream, ExchangeService]]:
    venue = _binance(closed_up_to=3)
    async with (
        venue.server,
        LoopbackBinanceStream() as ws,
        replay_service(
            "binance", venue.server, tmp_path, markets={"BTC/USDT": btc_usdt_market()},
            stream_base_url=ws.url, stream_settle_s=0.2, stream_backoff_max_s=0.4,
        ) as ex,
    ):  # fmt: skip
        yield venue, ws, ex


async def _open(ex: ExchangeService, inbox: Inbox) -> MarketStream:
    stream = await ex.open_stream(inbox.handlers(), markets={MARKET}, poll_interval_s=0.1)
    stream.start({MARKET: NOW_BAR - 3 * HOUR_MS})
    return stream


def _confirmed(stream: MarketStream) -> bool:
    """The gap after connecting was filled twice: settled, then confirmed (``confirm_s``)."""
    stats = stream.stats()
    return all(stats[kind]["gap_fills"] >= 2 for kind in ("ohlcv", "orders"))


def _drops(ex: ExchangeService) -> float:
    labels = {"exchange": "binance", "kind": "orders"}
    return (
        ex._metrics.registry.get_sample_value("omega_exchange_stream_disconnects_total", labels)
        or 0.0
    )


def _rest_market_and_status(venue: MiniBinance) -> list[str]:
    return [
        f"{r.method} {r.path}"
        for r in venue.server.requests
        if r.path.endswith(REST_ONLY) or (r.path.endswith("/order") and r.method == "GET")
    ]


async def test_candles_tickers_and_fills_come_by_stream_with_no_rest_market_or_order_request(
    wired: tuple[MiniBinance, LoopbackBinanceStream, ExchangeService],
) -> None:
    venue, ws, ex = wired
    inbox = Inbox()
    assert ex.stream_kinds == {"ohlcv", "tickers", "orders"}
    placed = await ex.create_order(
        "BTC/USDT", "limit", "buy", Decimal("0.01"), Decimal(50000), {"clientOrderId": "b1-1"}
    )
    stream = await _open(ex, inbox)
    try:
        await ws.wait_subscribed(["btcusdt@kline_1h", "btcusdt@ticker", "user"])
        await inbox.until("up and confirmed", lambda: _confirmed(stream), timeout_s=15)
        inbox.tracked.append(TrackedOrder("b1-1", placed.id, "BTC/USDT"))
        before = _rest_market_and_status(venue)

        await ws.kline("BTCUSDT", "1h", _row(2), closed=False, interval_ms=HOUR_MS)
        await ws.kline("BTCUSDT", "1h", _row(2), closed=True, interval_ms=HOUR_MS)
        await ws.kline("BTCUSDT", "1h", _row(1), closed=False, interval_ms=HOUR_MS)
        await ws.ticker("BTCUSDT", "101.5", bid="101", ask="102")
        venue.fill("b1-1", "0.01", "50000")
        await ws.user_event(execution_report(venue.orders[0], last_qty="0.01", last_price="50000"))
        await inbox.until("all three", lambda: inbox.candles and inbox.tickers and inbox.orders)

        assert inbox.candles == [NOW_BAR - 2 * HOUR_MS]  # closed once the next bar began
        assert inbox.tickers == [Decimal("101.5")]
        assert inbox.orders == [("b1-1", "closed", Decimal("0.01"))]
        assert _rest_market_and_status(venue) == before  # nothing asked by REST while up
        assert stream.health() == (False, "streamed: ohlcv, orders, tickers")
    finally:
        await stream.close()


async def test_a_dropped_stream_goes_to_rest_fills_the_gap_once_and_comes_back(
    wired: tuple[MiniBinance, LoopbackBinanceStream, ExchangeService],
) -> None:
    venue, ws, ex = wired
    inbox = Inbox()
    placed = await ex.create_order(
        "BTC/USDT", "limit", "buy", Decimal("0.01"), Decimal(50000), {"clientOrderId": "b1-7"}
    )
    inbox.tracked.append(TrackedOrder("b1-7", placed.id, "BTC/USDT"))
    drops_before = _drops(ex)
    stream = await _open(ex, inbox)
    try:
        await ws.wait_subscribed(["btcusdt@kline_1h", "user"])
        await ws.kline("BTCUSDT", "1h", _row(2), closed=True, interval_ms=HOUR_MS)
        await ws.kline("BTCUSDT", "1h", _row(1), closed=False, interval_ms=HOUR_MS)
        await inbox.until("the first candle", lambda: inbox.candles)

        ws.refusing = True
        ws.drop()  # the server cuts every socket; reconnects are refused for now
        await inbox.until("degraded", lambda: stream.health()[0])
        assert "stream down" in stream.health()[1] and "REST fallback" in stream.health()[1]
        venue.candles[NOW_BAR - 2 * HOUR_MS] = _bar(2)  # REST has every closed bar, the
        venue.candles[NOW_BAR - HOUR_MS] = _bar(1)  # one that closed during the gap too
        venue.fill("b1-7", "0.01", "50000")  # and a fill nobody streamed
        await inbox.until("the gap's candle and fill", lambda: len(inbox.candles) == 2
                          and ("b1-7", "closed", Decimal("0.01")) in inbox.orders)  # fmt: skip
        ws.refusing = False
        await ws.wait_subscribed(["btcusdt@kline_1h", "user"])
        await inbox.until("up again", lambda: not stream.health()[0])
        await ws.kline("BTCUSDT", "1h", _row(1), closed=True, interval_ms=HOUR_MS)  # replayed
        await ws.kline("BTCUSDT", "1h", _row(0), closed=False, interval_ms=HOUR_MS)
        await ws.ticker("BTCUSDT", "111", bid="110", ask="112")
        await inbox.until("a ticker after the reconnect", lambda: Decimal(111) in inbox.tickers)

        assert inbox.candles == [NOW_BAR - 2 * HOUR_MS, NOW_BAR - HOUR_MS]  # each once, in order
        looked_up = [r.param("origClientOrderId") for r in venue.server.requests
                     if r.path.endswith("/order") and r.method == "GET"]  # fmt: skip
        assert set(looked_up) == {"b1-7"}  # by client order id
        await inbox.until("the reconnect's gap filled", lambda: _confirmed(stream))
        stats = stream.stats()
        assert stats["ohlcv"]["disconnects"] == 1 and stats["orders"]["disconnects"] == 1

        assert ws.connections >= 4  # market and user sockets, twice
        assert _drops(ex) - drops_before == 1  # the Prometheus counter, orders kind
    finally:
        await stream.close()


async def _connected(ex: ExchangeService, ws: LoopbackBinanceStream) -> tuple[MarketStream, Any]:
    """A stream whose ccxt.pro client is connected, and that client's aiohttp session."""
    ccxt_stream = ex.venue.open_stream()
    assert isinstance(ccxt_stream, CcxtStream)
    stream = MarketStream(
        "binance", ex, ccxt_stream, Inbox().handlers(), markets={MARKET},
        now_ms=ex.venue.now_ms, timeframe_ms=ex.venue.timeframe_ms,
        settings=StreamSettings(poll_interval_s=0.1, settle_s=0.2, backoff_max_s=0.4),
    )  # fmt: skip
    stream.start({MARKET: NOW_BAR - 3 * HOUR_MS})
    await ws.wait_subscribed(["btcusdt@kline_1h", "btcusdt@ticker", "user"])
    session = getattr(ccxt_stream.client, "session", None)
    assert session is not None and not session.closed
    return stream, session


async def test_a_close_cancelled_while_its_loops_end_still_closes_the_ccxt_session(
    wired: tuple[MiniBinance, LoopbackBinanceStream, ExchangeService],
) -> None:
    # a gateway term cancelled again while its feed closes: close() used to skip the venue
    _, ws, ex = wired
    stream, session = await _connected(ex, ws)
    closing = asyncio.create_task(stream.close())
    await stream._closed.wait()  # close() has begun: it now waits for its loops to end
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert session.closed


async def test_a_close_cancelled_at_every_step_still_closes_the_ccxt_session(
    wired: tuple[MiniBinance, LoopbackBinanceStream, ExchangeService],
) -> None:
    # ccxt closes its WebSockets first, its session after: cancelled in between, never that
    _, ws, ex = wired
    stream, session = await _connected(ex, ws)
    closing = asyncio.create_task(stream.close())
    loop, ended, steps = asyncio.get_running_loop(), asyncio.Event(), 0
    closing.add_done_callback(lambda _: ended.set())

    def cancel_again() -> None:  # at every turn of the loop: cancel whatever close() awaits
        nonlocal steps
        if not closing.done():
            closing.cancel()
            steps += 1
            loop.call_soon(cancel_again)

    loop.call_soon(cancel_again)
    await ended.wait()
    assert steps > 1  # it was cancelled more than once, inside ccxt's close too
    assert closing.cancelled()
    assert session.closed

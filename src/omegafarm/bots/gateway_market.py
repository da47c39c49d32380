"""The gateway's market side: the exchange's streams in, the farm's Redis out.

One :class:`~omegafarm.exchange.stream.MarketStream` per active gateway term (so one set of
exchange connections per account per farm): candles, tickers and order updates are pushed by
the venue where it can (ccxt's WebSocket layer, the paper engine) and polled by REST where it
cannot or while a stream is down; after a drop the stream fills the gap by REST. This module
turns what arrives into what the farm reads:

* each newly closed candle goes to ``md:{symbol}:{tf}`` (with ``sent_ms``, for the workers'
  candle-to-decision latency) and to the market's history key (the last ``history_bars``, so a
  starting bot has history); a gateway that takes over goes on from the last candle the
  history holds, so no bar is skipped for the bots;
* each new ticker goes to ``tick:{symbol}`` (bots) and ``tickers`` (the live feed);
* each order update of an order the gateway tracks goes through the order desk's ``publish``
  (record, the bot's update stream, the live feed) unless it says nothing new. An update that
  arrives before the order is tracked (a stream can be faster than the create's REST answer)
  waits briefly for it, so a fill pushed that early is not lost.

The gateway's periodic reconciliation runs here too, between updates.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import asdict
from decimal import Decimal
from typing import Any, Protocol

import structlog

from omegafarm.bots._convert import update_from_order
from omegafarm.bots.config import FarmSettings
from omegafarm.bots.gateway_orders import OrderDesk
from omegafarm.bots.ledger import OrderUpdate
from omegafarm.core.errors import OmegaError
from omegafarm.exchange import ExchangeService, Order, Ticker
from omegafarm.exchange.stream import Candles, MarketStream, StreamHandlers, TrackedOrder
from omegafarm.store import RedisClient
from omegafarm.store import keys as _names

__all__ = ["TICKER_INTERVAL_S", "MarketFeed"]

_log = structlog.get_logger("omegafarm.bots.gateway")
TICKER_INTERVAL_S = 1.0  # tickers are polled at most this often (one call for every symbol)
EARLY_KEEP = 1_000  # updates of not-yet-tracked orders remembered (newest)
EARLY_WAIT_S = 30.0  # how long such an update waits for its order to be tracked
EARLY_CHECK_S = 0.05  # how often waiting updates are looked at
EARLY_GRACE_S = 0.5  # a tracked order's update waits at most this long for the order's ack
_ENDED = frozenset({"closed", "canceled", "rejected", "expired"})
MarketKey = tuple[str, str]


class GatewayPort(Protocol):
    """What the market side uses of the gateway."""

    redis: RedisClient
    exchange: ExchangeService
    settings: FarmSettings
    markets: set[MarketKey]
    orders: OrderDesk

    async def reconcile_now(self, *, full: bool = True) -> int: ...


class MarketFeed:
    """Streams in, Redis out, for one gateway (see the module doc); ``run`` once per term."""

    def __init__(self, gateway: GatewayPort) -> None:
        self.gw = gateway
        self.stream: MarketStream | None = None
        self._history: dict[MarketKey, list[list[float]]] = {}
        self._ticked: dict[str, tuple[int, Decimal]] = {}
        self._early: OrderedDict[str, tuple[float, Order]] = OrderedDict()
        self._wake = asyncio.Event()  # set when an update starts waiting in _early
        self._reconciled_at = time.monotonic()
        self.candles_published = 0
        self.orders_published = 0
        self.failures = 0
        self.last_error = ""

    # ----------------------------------------------------------------- the term's loop
    async def run(self, stop: asyncio.Event) -> None:
        """Catch up on candles, open the stream, and keep it until ``stop`` (reconciling now
        and then); a failure to start is retried with backoff."""
        delay_s = self.gw.settings.poll_interval_s
        while not stop.is_set():
            try:
                await self._serve(stop)
                return
            except OmegaError as exc:  # Redis or the exchange down while starting: again later
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                _log.warning("gateway_market_start_failed", error=str(exc),
                             error_class=type(exc).__name__, failures=self.failures)  # fmt: skip
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay_s)
                delay_s = min(2.0, delay_s * 2)

    async def _serve(self, stop: asyncio.Event) -> None:
        self._history.clear()
        self._ticked.clear()
        after = {key: await self.catch_up(*key) for key in sorted(self.gw.markets)}
        handlers = StreamHandlers(self._on_candles, self._on_tickers, self._on_order, self._tracked)
        stream = await self.gw.exchange.open_stream(
            handlers, markets=set(self.gw.markets), ticker_interval_s=TICKER_INTERVAL_S,
            poll_interval_s=self.gw.settings.poll_interval_s,
        )  # fmt: skip
        self.stream = stream
        self.failures, self.last_error = 0, ""
        stream.start({k: v for k, v in after.items() if v >= 0})
        try:
            while not stop.is_set():
                await self._nap(stop, EARLY_CHECK_S if self._early else 1.0)
                await self._resolve_early()
                await self._reconcile_if_due()
        finally:
            self.stream = None
            await stream.close()

    async def _nap(self, stop: asyncio.Event, timeout_s: float) -> None:
        """Until ``stop``, an update waiting in ``_early``, or ``timeout_s``."""
        self._wake.clear()
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()

    async def _reconcile_if_due(self) -> None:
        interval_s = self.gw.settings.reconcile_interval_s
        if interval_s > 0 and time.monotonic() - self._reconciled_at >= interval_s:
            self._reconciled_at = time.monotonic()
            await self.gw.reconcile_now(full=False)

    def health(self) -> tuple[bool, str]:
        """(degraded, reason): a stream down (REST fallback), or the start failing."""
        if self.last_error:
            return True, f"market data not started: {self.last_error}"
        if self.stream is None:
            return False, "market data stopped"
        return self.stream.health()

    # ----------------------------------------------------------------- candles
    async def catch_up(self, symbol: str, tf: str) -> int:
        """Bring the history key up to the exchange by REST (a new term starts here): publish
        the candles closed since the history's last one; returns the newest candle's time (-1:
        none yet)."""
        key = (symbol, tf)
        old: list[list[float]] = await self.gw.redis.get(_names.history(symbol, tf)) or []
        last = int(old[-1][0]) if old else -1
        exchange, bars = self.gw.exchange, self.gw.settings.history_bars
        rows = await exchange.fetch_ohlcv(symbol, tf, limit=bars + 1)  # + the one forming
        tf_ms, now_ms = exchange.venue.timeframe_ms(tf), exchange.venue.now_ms()
        rows = rows[rows[:, 0] + tf_ms <= now_ms][-bars:]  # a bar still forming is no candle yet
        self._history[key] = old
        if rows.shape[0] == 0:
            return last
        new = rows[rows[:, 0] > last]
        if last >= 0 and new.shape[0] == 0 and int(rows[-1, 0]) < last:
            _log.error(  # a reset or non-durable exchange: start the history afresh, say so
                "market_clock_moved_back", symbol=symbol, tf=tf, exchange_ms=int(rows[-1, 0]),
                history_ms=last, hint="bots restart on the new history at their next candle",
            )  # fmt: skip
            last, new = -1, rows
        if new.shape[0] == 0:
            return last
        if last < 0:  # a new farm: the history is all there is, nothing to announce
            history = [list(map(float, r)) for r in rows.tolist()]
            await self.gw.redis.set(_names.history(symbol, tf), history)
            self._history[key] = history
            return int(rows[-1, 0])
        await self._on_candles(Candles(symbol, tf, new))
        return int(rows[-1, 0])

    async def _on_candles(self, batch: Candles) -> None:
        """Append to the history, then announce each candle on ``md:{symbol}:{tf}``."""
        key = (batch.symbol, batch.timeframe)
        history = self._history.get(key)
        if history is None:
            history = await self.gw.redis.get(_names.history(*key)) or []
        last = history[-1][0] if history else -1.0
        rows = [list(map(float, r)) for r in batch.rows.tolist() if r[0] > last]
        if not rows:
            return
        history = (history + rows)[-self.gw.settings.history_bars :]
        await self.gw.redis.set(_names.history(*key), history)
        self._history[key] = history
        sent_ms = int(time.time() * 1000)  # workers measure candle-to-decision from here
        # "prev": the candle before each one, so a worker whose subscription lost a message
        # (pub/sub is at-most-once) sees the hole and fills it from the history key
        prevs = [last, *(r[0] for r in rows[:-1])]
        payloads = [{"symbol": batch.symbol, "tf": batch.timeframe, "candle": r, "prev": p,
                     "sent_ms": sent_ms} for r, p in zip(rows, prevs, strict=True)]  # fmt: skip
        await self.gw.redis.publish_many(_names.candles(*key), payloads)
        self.candles_published += len(rows)

    # ----------------------------------------------------------------- tickers
    async def _on_tickers(self, tickers: dict[str, Ticker]) -> None:
        """New tickers to ``tick:{symbol}`` (bots) and ``tickers`` (the live feed)."""
        fresh: list[dict[str, Any]] = []
        symbols = {symbol for symbol, _ in self.gw.markets}
        for symbol, ticker in sorted(tickers.items()):
            if symbol not in symbols or ticker.last is None:
                continue
            ts_ms = ticker.timestamp_ms or int(time.time() * 1000)
            if self._ticked.get(symbol) == (ts_ms, ticker.last):
                continue
            self._ticked[symbol] = (ts_ms, ticker.last)
            tick = {"symbol": symbol, "ts_ms": ts_ms, "last": float(ticker.last)}
            await self.gw.redis.publish(_names.ticks(symbol), tick)
            fresh.append(_ticker_message(ticker))
        if fresh:
            await self.gw.redis.publish_many(_names.FEED_TICKERS, fresh)

    # ----------------------------------------------------------------- orders
    def _tracked(self) -> Iterator[TrackedOrder]:
        for cid, record in list(self.gw.orders.open.items()):
            yield TrackedOrder(cid, record.order_id or "", record.symbol)

    async def _on_order(self, order: Order, *, waited: bool = False) -> bool:
        """An order update from the stream (or the REST gap fill / fallback): to its bot when
        it is one of ours and says something new; True when it was published.

        An update of an order not yet tracked, or tracked but not yet told to its bot (the
        create's own ``_publish`` still running: finishing after ours, it would overwrite what
        ours recorded), waits in ``_early`` and is delivered from the run loop."""
        cid = order.client_order_id
        if cid is None:
            return False
        record = self.gw.orders.open.get(cid)  # None: not tracked (yet, or ended and told)
        seen = None if record is None else record.told
        ended = self.gw.orders.ended.get(cid) if record is None else None
        if ended is not None and _not_newer(update_from_order(order, cid), ended):
            return False  # ended and told: nothing to wait for
        if record is None or (seen is None and not waited):
            self._keep_early(cid, order)
            self._wake.set()
            while len(self._early) > EARLY_KEEP:
                self._early.popitem(last=False)
            return record is not None  # a tracked order: news, delivered in a moment
        update = update_from_order(order, cid)
        if seen is not None and _not_newer(update, seen):
            if not update.is_open and seen[1] in _ENDED:  # ended and told: stop tracking it
                await self.gw.orders.save_open(record.bot, cid, None)  # its partition's map
                self.gw.orders.open.pop(cid, None)
            return False
        if not await self.gw.orders.publish(record.bot, update):
            return False  # older than what another path told meanwhile
        self.orders_published += 1
        return True

    def _keep_early(self, cid: str, order: Order) -> None:
        """Hold an update of an order not yet told: the newest per order (a REST answer read
        before a fill must not replace the pushed fill it is older than)."""
        held = self._early.get(cid)
        if held is not None:
            kept = update_from_order(held[1], cid)
            if _not_newer(update_from_order(order, cid), (kept.filled, kept.status)):
                order = held[1]
        self._early[cid] = (time.monotonic(), order)
        self._early.move_to_end(cid)

    async def _resolve_early(self) -> None:
        """Updates that came before their order was tracked and told: deliver or forget them
        (a tracked order never told is delivered after ``EARLY_GRACE_S``: say, taken over).

        Each entry is read when its turn comes, not from a copy taken at the start: delivering
        one waits on Redis, and an entry replaced meanwhile (an order's "open" by its fill) was
        otherwise delivered as it was and the newer update dropped with it, leaving the order
        open at its bot for ever."""
        if not self._early:
            return
        now = time.monotonic()
        for cid in list(self._early):
            held = self._early.get(cid)
            if held is None:  # delivered meanwhile (a later update of the same order)
                continue
            at, order = held
            record = self.gw.orders.open.get(cid)
            if record is not None and (record.told is not None or now - at >= EARLY_GRACE_S):
                del self._early[cid]
                await self._on_order(order, waited=True)
            elif now - at > EARLY_WAIT_S:
                del self._early[cid]


def _not_newer(update: OrderUpdate, seen: tuple[Decimal, str]) -> bool:
    """Whether ``update`` tells nothing beyond ``seen`` (filled, status): the same, or older
    (less filled, or open again after it ended: a REST answer racing the stream)."""
    filled, status = seen
    if (update.filled, update.status) == seen or update.filled < filled:
        return True
    return status in _ENDED and update.is_open


def _ticker_message(ticker: Ticker) -> dict[str, Any]:
    """A ticker for the live feed (without the exchange's raw payload)."""
    return {k: v for k, v in asdict(ticker).items() if k != "info"}

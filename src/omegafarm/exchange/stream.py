"""Streaming market data and order updates: the venue pushes, REST fills the gaps and stands in.

A venue that can push (a ccxt exchange with ccxt's WebSocket layer, the paper exchange in
process) hands out a :class:`VenueStream`: each ``watch_*`` call waits for the next update, as
ccxt's ``watch_*`` methods do. :class:`MarketStream` runs one loop per kind (candles, tickers,
orders) over it and calls the consumer's handlers with our models. What it guarantees:

* **No candle and no fill missed.** After every (re)connect, once the new subscription has
  settled (``settle_s`` without failing, or its first update), the gap is filled by REST before
  anything from the new connection is delivered, and once more at its first update or after
  ``confirm_s`` (a subscription that took longer than ``settle_s`` to be live loses nothing):
  candles since the last one delivered (``fetch_ohlcv``) and every tracked open order by its
  client order id (``fetch_order``). Candles are delivered once each, in time order; an order
  update may come twice (by REST and by the stream), so the consumer compares it with what it
  has seen.
* **REST as the fallback.** A kind the venue cannot push is polled (the gateway's old loop);
  a stream that fails is polled while it retries with backoff, and the stream reports itself
  degraded with the reason until it is back (:meth:`MarketStream.health`).
* **Counted.** Disconnects, gap fills and what they recovered are counters (Prometheus, and
  :meth:`MarketStream.stats`), and each is logged.

The consumer (the farm's gateway, the only one: one connection per exchange account per farm)
keeps its own records; this module knows nothing of Redis or bots.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Protocol

import numpy as np
import numpy.typing as npt
import structlog
from prometheus_client import CollectorRegistry, Counter

from omegafarm.core.errors import OmegaError
from omegafarm.exchange.models import Order, Ticker

__all__ = [
    "KINDS",
    "Candles",
    "MarketStream",
    "RestSide",
    "StreamHandlers",
    "StreamKind",
    "StreamSettings",
    "TrackedOrder",
    "VenueStream",
]

F64 = npt.NDArray[np.float64]
StreamKind = Literal["ohlcv", "tickers", "orders"]
KINDS: tuple[StreamKind, ...] = ("ohlcv", "tickers", "orders")
MarketKey = tuple[str, str]  # (symbol, timeframe)
LATEST_LIMIT = 1000  # a gap of up to this many candles is filled with one "latest" request
_log = structlog.get_logger("omegafarm.exchange.stream")


@dataclass(frozen=True)
class Candles:
    """Closed candles of one market, oldest first: ``rows`` (n, 6) float64 like ``fetch_ohlcv``."""

    symbol: str
    timeframe: str
    rows: F64


@dataclass(frozen=True)
class TrackedOrder:
    """An open order the consumer waits on: looked up by client order id after a gap."""

    client_order_id: str
    order_id: str
    symbol: str


class VenueStream(Protocol):
    """What a venue pushes. Each ``watch_*`` waits for the next update (ccxt's semantics) and
    raises our :mod:`~omegafarm.exchange.errors` when the connection fails."""

    kinds: frozenset[StreamKind]

    async def watch_candles(
        self, markets: Sequence[MarketKey], after_ms: Mapping[MarketKey, int]
    ) -> list[Candles]:
        """Closed candles newer than ``after_ms[market]`` (of the markets that changed)."""
        ...

    async def watch_tickers(self, symbols: Sequence[str]) -> dict[str, Ticker]:
        """Tickers that changed, by symbol."""
        ...

    async def watch_orders(self) -> list[Order]:
        """Orders of the account that changed (any order, not only ours)."""
        ...

    async def close(self) -> None:
        """Close the connections."""
        ...


class RestSide(Protocol):
    """The REST calls the stream makes (the Exchange Service's own methods)."""

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, object] | None = None,
    ) -> F64: ...

    async def fetch_tickers(
        self, symbols: list[str] | None = None, params: dict[str, object] | None = None
    ) -> dict[str, Ticker]: ...

    async def fetch_order(
        self, id: str, symbol: str | None = None, params: dict[str, object] | None = None
    ) -> Order: ...


@dataclass(frozen=True)
class StreamHandlers:
    """Where the stream delivers (awaited: a slow consumer slows the stream, nothing piles up).

    ``tracked`` lists the open orders to look up after a gap or poll without a stream."""

    candles: Callable[[Candles], Awaitable[None]]
    tickers: Callable[[dict[str, Ticker]], Awaitable[None]]
    order: Callable[[Order], Awaitable[bool]]  # True: news to the consumer (not seen before)
    tracked: Callable[[], Iterable[TrackedOrder]]


@dataclass(frozen=True)
class StreamSettings:
    """Timings of the stream loops (seconds)."""

    poll_interval_s: float = 1.0  # REST polling of a kind without a stream (and while down)
    ticker_interval_s: float = 1.0  # tickers are polled at most this often
    settle_s: float = 0.5  # a (re)connect pending this long without failing counts as up
    confirm_s: float = 5.0  # the gap is filled again by then (or at the first update)
    backoff_max_s: float = 10.0  # longest wait between two reconnects


@dataclass
class _KindState:
    streamed: bool
    down_reason: str = ""
    down_since: float = 0.0
    disconnects: int = 0
    gap_fills: int = 0
    recovered: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class _Metrics:
    """The stream's counters (one set per registry: names must be unique in it)."""

    _by_registry: ClassVar[dict[int, tuple[CollectorRegistry, _Metrics]]] = {}

    def __init__(self, registry: CollectorRegistry | None) -> None:
        labels = ["exchange", "kind"]
        self.disconnects = Counter(
            "omega_exchange_stream_disconnects", "Exchange streams that failed or dropped.",
            labels, registry=registry,
        )  # fmt: skip
        self.gaps = Counter(
            "omega_exchange_stream_gap_fills", "Gaps after a (re)connect filled by REST.",
            labels, registry=registry,
        )  # fmt: skip
        self.recovered = Counter(
            "omega_exchange_stream_gap_items",
            "Candles and order updates found by REST after a gap (missed by the stream).",
            labels, registry=registry,
        )  # fmt: skip

    @classmethod
    def of(cls, registry: CollectorRegistry | None) -> _Metrics:
        if registry is None:
            return cls(None)
        found = cls._by_registry.get(id(registry))
        if found is None or found[0] is not registry:
            found = (registry, cls(registry))
            cls._by_registry[id(registry)] = found
        return found[1]


class MarketStream:
    """Candles, tickers and order updates of one exchange account, pushed where the venue can.

    Start with :meth:`start` (``after_ms``: the last candle the consumer already has, per
    market; a market without one starts from the stream's first closed candle), stop with
    :meth:`close`. The loops survive every exchange failure; a handler that raises an
    ``OmegaError`` (Redis down) gets the same items again at the next update."""

    def __init__(
        self,
        exchange_id: str,
        rest: RestSide,
        venue_stream: VenueStream | None,
        handlers: StreamHandlers,
        *,
        markets: Iterable[MarketKey],
        orders: bool = True,
        now_ms: Callable[[], int],
        timeframe_ms: Callable[[str], int],
        settings: StreamSettings | None = None,
        metrics_registry: CollectorRegistry | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.exchange_id = exchange_id
        self._rest, self._venue, self._h = rest, venue_stream, handlers
        self.markets: list[MarketKey] = sorted(set(markets))
        self.symbols = sorted({symbol for symbol, _ in self.markets})
        self._now_ms, self._tf_ms = now_ms, timeframe_ms
        self.settings = settings or StreamSettings()
        self._metrics = _Metrics.of(metrics_registry)
        self._sleep = sleep
        can = venue_stream.kinds if venue_stream is not None else frozenset()
        wanted: list[StreamKind] = ["ohlcv", "tickers"] if self.markets else []
        if orders:
            wanted.append("orders")
        self.state: dict[StreamKind, _KindState] = {k: _KindState(k in can) for k in wanted}
        self.delivered: dict[MarketKey, int] = {}  # last candle delivered per market
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = asyncio.Event()

    # ----------------------------------------------------------------- lifecycle
    def start(self, after_ms: Mapping[MarketKey, int] | None = None) -> None:
        """Start one loop per kind (candles go on after ``after_ms``)."""
        if self._tasks:
            return
        self.delivered.update(after_ms or {})
        for kind, state in self.state.items():
            loop = self._stream_loop(kind) if state.streamed else self._poll_loop(kind)
            self._tasks.append(asyncio.create_task(loop, name=f"stream-{kind}"))
        _log.info(
            "market_stream_started", exchange=self.exchange_id, markets=len(self.markets),
            streamed=sorted(k for k, s in self.state.items() if s.streamed),
            polled=sorted(k for k, s in self.state.items() if not s.streamed),
        )  # fmt: skip

    async def close(self) -> None:
        """Stop the loops and close the venue's connections (idempotent).

        The connections are closed even when this is cancelled while the loops end (a
        gateway's term cancelled again while its feed closes): they used to stay open."""
        self._closed.set()
        for task in self._tasks:
            task.cancel()
        try:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            self._tasks = []
            if self._venue is not None:
                with contextlib.suppress(Exception):  # a broken socket may fail: it is gone
                    await self._venue.close()

    def health(self) -> tuple[bool, str]:
        """(degraded, reason): degraded while a stream is down and its kind is polled by REST."""
        down = [
            f"{kind} stream down for {time.monotonic() - s.down_since:.0f} s "
            f"({s.down_reason}); on REST fallback"
            for kind, s in self.state.items()
            if s.streamed and s.down_reason
        ]
        if down:
            return True, "; ".join(down)
        streamed = sorted(k for k, s in self.state.items() if s.streamed)
        return False, f"streamed: {', '.join(streamed) or 'none'}"

    def stats(self) -> dict[str, dict[str, int | bool]]:
        """Per kind: streamed or polled, up, disconnects, gap fills, items recovered by REST."""
        return {
            kind: {"streamed": s.streamed, "up": not s.down_reason, "disconnects": s.disconnects,
                   "gap_fills": s.gap_fills, "recovered": s.recovered}
            for kind, s in self.state.items()
        }  # fmt: skip

    # ----------------------------------------------------------------- the loops
    async def _stream_loop(self, kind: StreamKind) -> None:
        """Watch ``kind``; after every (re)connect fill the gap by REST before delivering, and
        once more when the new connection has proved itself (its first update, or
        ``confirm_s``): a subscription slower than ``settle_s`` loses nothing either."""
        state, backoff_s, gap = self.state[kind], self.settings.settle_s, True
        confirm_at: float | None = None  # when the second fill of this connection is due
        while not self._closed.is_set():
            watch = asyncio.ensure_future(self._watch(kind))
            try:
                if gap:  # a new connection: let it settle (or fail), then fill the gap
                    await asyncio.wait({watch}, timeout=self.settings.settle_s)
                    if watch.done() and watch.exception() is not None:
                        watch.result()  # raises: the reconnect failed
                    if state.down_reason:
                        down_s = round(time.monotonic() - state.down_since, 3)
                        _log.info("market_stream_reconnected", exchange=self.exchange_id,
                                  kind=kind, down_s=down_s)  # fmt: skip
                        state.down_reason = ""
                    backoff_s = self.settings.settle_s
                    gap = not await self._fill(kind, gap=True)  # failed: again next time
                    confirm_at = time.monotonic() + self.settings.confirm_s
                if confirm_at is not None:
                    await asyncio.wait({watch}, timeout=max(0.0, confirm_at - time.monotonic()))
                    if watch.done() and watch.exception() is not None:
                        watch.result()
                    if await self._fill(kind, gap=True):
                        confirm_at = None
                items = await watch
            except Exception as exc:  # the supervisor of this loop: every failure is a drop
                if not isinstance(exc, OmegaError):  # untranslated: a bug, or a new ccxt error
                    _log.exception("market_stream_failed", exchange=self.exchange_id, kind=kind)
                gap, confirm_at = True, None
                self._went_down(kind, exc)
                await self._fill(kind, gap=False)  # the REST fallback while the stream is down
                await self._wait(backoff_s)
                backoff_s = min(self.settings.backoff_max_s, backoff_s * 2)
                continue
            finally:
                if not watch.done():
                    watch.cancel()
            try:
                await self._deliver(kind, items)
            except Exception as exc:  # the consumer failed (its Redis): REST tells again later
                self._delivery_failed(kind, exc)
                gap = True
                await self._wait(backoff_s)

    def _delivery_failed(self, kind: StreamKind, exc: Exception) -> None:
        if isinstance(exc, OmegaError):
            _log.warning("market_stream_delivery_failed", exchange=self.exchange_id, kind=kind,
                         error=str(exc), error_class=type(exc).__name__)  # fmt: skip
        else:  # a bug of the consumer: say so loudly, and go on
            _log.exception("market_stream_delivery_failed", exchange=self.exchange_id, kind=kind)

    async def _poll_loop(self, kind: StreamKind) -> None:
        """A kind the venue cannot push: REST, every poll (tickers at most every interval)."""
        interval_s = (
            self.settings.ticker_interval_s if kind == "tickers" else self.settings.poll_interval_s
        )
        while not self._closed.is_set():
            await self._fill(kind, gap=False)
            await self._wait(interval_s)

    async def _wait(self, delay_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), timeout=delay_s)

    def _went_down(self, kind: StreamKind, exc: Exception) -> None:
        state = self.state[kind]
        reason = f"{type(exc).__name__}: {exc}"
        if not state.down_reason:
            state.down_since = time.monotonic()
            state.disconnects += 1
            self._metrics.disconnects.labels(self.exchange_id, kind).inc()
            _log.warning("market_stream_disconnected", exchange=self.exchange_id, kind=kind,
                         error=reason, disconnects=state.disconnects)  # fmt: skip
        state.down_reason = reason

    async def _watch(self, kind: StreamKind) -> object:
        venue = self._venue
        assert venue is not None  # only streamed kinds are watched
        if kind == "ohlcv":
            return await venue.watch_candles(self.markets, dict(self.delivered))
        if kind == "tickers":
            return await venue.watch_tickers(self.symbols)
        return await venue.watch_orders()

    async def _deliver(self, kind: StreamKind, items: object) -> None:
        if kind == "ohlcv":
            assert isinstance(items, list)
            for batch in items:
                await self._candles(batch)
        elif kind == "tickers":
            assert isinstance(items, dict)
            if items:
                await self._h.tickers(items)
        else:
            assert isinstance(items, list)
            for order in items:
                await self._h.order(order)

    async def _candles(self, batch: Candles) -> int:
        """Deliver the rows newer than the last delivered one; returns how many."""
        key = (batch.symbol, batch.timeframe)
        last = self.delivered.get(key, -1)
        rows = batch.rows[batch.rows[:, 0] > last] if batch.rows.shape[0] else batch.rows
        if rows.shape[0] == 0:
            return 0
        await self._h.candles(Candles(batch.symbol, batch.timeframe, rows))
        self.delivered[key] = int(rows[-1, 0])
        return int(rows.shape[0])

    # ----------------------------------------------------------------- REST: gaps and fallback
    async def _fill(self, kind: StreamKind, *, gap: bool) -> bool:
        """What the stream may have missed, by REST; False when the exchange or the consumer
        failed (logged: tried again later)."""
        try:
            if kind == "ohlcv":
                found = await self._fill_candles()
            elif kind == "tickers":
                if gap:  # a ticker is only ever the latest: nothing to catch up on
                    return True
                tickers = await self._rest.fetch_tickers(list(self.symbols))
                if tickers:
                    await self._h.tickers(tickers)
                found = 0
            else:
                found = await self._fill_orders()
        except OmegaError as exc:
            _log.info("market_stream_rest_failed", exchange=self.exchange_id, kind=kind,
                      error=str(exc), error_class=type(exc).__name__)  # fmt: skip
            return False
        except Exception as exc:  # a bug (ours or the consumer's): logged, the loop goes on
            self._delivery_failed(kind, exc)
            return False
        state = self.state[kind]
        if gap and state.streamed:
            state.gap_fills += 1
            state.recovered += found
            self._metrics.gaps.labels(self.exchange_id, kind).inc()
            self._metrics.recovered.labels(self.exchange_id, kind).inc(found)
            if found:
                _log.warning("market_stream_gap_filled", exchange=self.exchange_id, kind=kind,
                             recovered=found)  # fmt: skip
        return True

    async def _fill_candles(self) -> int:
        found = 0
        now_ms = self._now_ms()
        for symbol, tf in self.markets:
            tf_ms = self._tf_ms(tf)
            last = self.delivered.get((symbol, tf))
            if last is None:
                rows = await self._rest.fetch_ohlcv(symbol, tf, limit=2)
            elif (missing := (now_ms - last) // tf_ms + 2) <= LATEST_LIMIT:
                rows = await self._rest.fetch_ohlcv(symbol, tf, limit=int(missing))
            else:  # a long gap: paged from the last candle on
                rows = await self._rest.fetch_ohlcv(symbol, tf, since=last + tf_ms)
            closed = rows[rows[:, 0] + tf_ms <= now_ms] if rows.shape[0] else rows
            if last is None:  # nothing to catch up on: start from the newest closed candle
                closed = closed[-1:]
            found += await self._candles(Candles(symbol, tf, closed))
        return found

    async def _fill_orders(self) -> int:
        found = 0
        for tracked in list(self._h.tracked()):
            params: dict[str, object] = {"clientOrderId": tracked.client_order_id}
            order = await self._rest.fetch_order(tracked.order_id, tracked.symbol, params)
            found += int(await self._h.order(order))
        return found

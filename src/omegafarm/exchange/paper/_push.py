"""The paper venue's push side: order changes and closed bars, in process, as a VenueStream.

The engine tells a listener of every order change and of closed bars; a driver task moves the
clock (a wall clock has nobody else to move it once nothing polls) by waking when the next
event is due (a bar close, an order's arrival) or when the listener says something changed,
then *settles* the venue: the clock catches up and the durable paper exchange saves what
changed. Only after that are the changes handed out, so nobody sees an order or a fill the
saved exchange does not have (the journal's rule). With a manual clock (tests, backtests) the
driver only waits for the listener.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import structlog

from omegafarm.exchange.models import Order, Ticker
from omegafarm.exchange.paper._models import order_model
from omegafarm.exchange.paper._state import Order as EngineOrder
from omegafarm.exchange.stream import Candles, StreamKind

if TYPE_CHECKING:
    from omegafarm.exchange.paper.venue import PaperVenue

MarketKey = tuple[str, str]

_log = structlog.get_logger("omegafarm.exchange.paper")


def _retrieved(task: asyncio.Task[None]) -> None:
    # The driver's error reaches every watcher through ``_ensure_driver`` and is logged where it
    # happens; a stream nobody watches any more must not leave it to the collector's
    # "Task exception was never retrieved", logged at a random later moment.
    if not task.cancelled():
        task.exception()


class PaperStream:
    """Order updates, candles and tickers pushed by the paper engine."""

    kinds: frozenset[StreamKind] = frozenset({"ohlcv", "tickers", "orders"})

    def __init__(self, venue: PaperVenue) -> None:
        self._venue = venue
        self._changed: dict[str, EngineOrder] = {}
        self._bars = False
        self._kick = asyncio.Event()
        self._ready: dict[StreamKind, asyncio.Event] = {k: asyncio.Event() for k in self.kinds}
        self._driver: asyncio.Task[None] | None = None
        self.settles = 0
        venue.exchange.set_listener(self._on_change)

    def _on_change(self, order: EngineOrder | None) -> None:
        if order is None:
            self._bars = True
        else:
            self._changed[order.id] = order
        self._kick.set()

    def _ensure_driver(self) -> None:
        driver = self._driver
        if driver is not None and driver.done():
            self._driver = None
            driver.result()  # raises what stopped it (translated): the stream reconnects
        if self._driver is None:
            self._driver = asyncio.create_task(self._drive(), name="paper-push")
            self._driver.add_done_callback(_retrieved)

    async def _drive(self) -> None:
        venue = self._venue
        try:
            while True:
                wait_s = venue.exchange.wake_in_s()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._kick.wait(), timeout=wait_s)
                self._kick.clear()
                await venue.settle()  # the clock moves (the listener hears) and it is saved
                self.settles += 1
                if self._changed:
                    self._ready["orders"].set()
                if self._bars:
                    self._bars = False
                    self._ready["ohlcv"].set()
                    self._ready["tickers"].set()
        except Exception as exc:
            _log.warning("paper_push_stopped", error=f"{type(exc).__name__}: {exc}")
            for event in self._ready.values():
                event.set()  # every watcher wakes and raises
            raise venue.translate(exc, "settle", None, ()) from exc

    async def _wait(self, kind: StreamKind) -> None:
        self._ensure_driver()
        await self._ready[kind].wait()
        self._ready[kind].clear()
        self._ensure_driver()  # raises when the driver failed while this one waited

    async def watch_candles(
        self, markets: Sequence[MarketKey], after_ms: Mapping[MarketKey, int]
    ) -> list[Candles]:
        """Closed candles newer than ``after_ms`` (after the next bar closes)."""
        await self._wait("ohlcv")
        out = []
        for symbol, tf in markets:
            after = after_ms.get((symbol, tf))
            since, limit = (None, 1) if after is None else (after + 1, None)
            rows = await self._venue.fetch_ohlcv(symbol, tf, since, limit, {})
            if rows.shape[0]:
                out.append(Candles(symbol, tf, rows))
        return out

    async def watch_tickers(self, symbols: Sequence[str]) -> dict[str, Ticker]:
        """Tickers (they change when a bar closes)."""
        await self._wait("tickers")
        return await self._venue.fetch_tickers(list(symbols), {})

    async def watch_orders(self) -> list[Order]:
        """Orders that changed since the last call."""
        await self._wait("orders")
        changed, self._changed = self._changed, {}
        return [order_model(order) for order in changed.values()]

    async def close(self) -> None:
        """Stop the driver and stop listening (only this stream's listener: a gateway term
        that ended may close its stream after the next term, on the reloaded exchange, opened
        its own; clearing the listener then silenced every push of the new term)."""
        self._venue.exchange.drop_listener(self._on_change)
        if self._driver is not None:
            self._driver.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._driver
            self._driver = None

"""The ccxt venue's push side: ccxt's own WebSocket layer (``ccxt.pro``) as a VenueStream.

One ccxt.pro object per stream (so per exchange account and farm: the gateway opens one); it
takes its markets from the REST client, so it never loads them itself, and every REST call of
the farm stays on the REST client behind our rate limiter. ccxt multiplexes the subscriptions
on its connections and resubscribes on the next ``watch_*`` after a drop; what the drop may
have lost is :class:`~omegafarm.exchange.stream.MarketStream`'s to fill by REST.

Candles: ccxt keeps every bar it received per market and replaces the forming one in place, so
a bar is closed once a newer bar has arrived; only those are handed on. ccxt's exceptions
become ours through the venue's ``translate`` (secrets scrubbed), like REST calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from omegafarm.exchange import normalize as nz
from omegafarm.exchange.client import close_ccxt_client
from omegafarm.exchange.errors import ExchangeCallError
from omegafarm.exchange.models import Order, Ticker
from omegafarm.exchange.stream import Candles, StreamKind

__all__ = ["CcxtStream", "stream_kinds_of"]

Translate = Callable[[BaseException, str, str | None], ExchangeCallError]
MarketKey = tuple[str, str]
ORDER_CACHE = 1000  # ccxt's default ``ordersLimit``
RECENT_BARS = 64  # bars of ccxt's cache looked at per update


def stream_kinds_of(has: Mapping[str, Any], *, private: bool) -> frozenset[StreamKind]:
    """What a ccxt.pro class can push, from its ``has`` (orders need keys: ``private``)."""
    kinds: set[StreamKind] = set()
    if has.get("watchOHLCVForSymbols") or has.get("watchOHLCV"):
        kinds.add("ohlcv")
    if has.get("watchTickers"):
        kinds.add("tickers")
    if private and has.get("watchOrders"):
        kinds.add("orders")
    return frozenset(kinds)


class CcxtStream:
    """ccxt.pro's ``watch_*`` answering in our models."""

    def __init__(self, client: Any, rest_client: Any, translate: Translate, *, private: bool):
        self._client, self._rest, self._translate = client, rest_client, translate
        self.kinds = stream_kinds_of(client.has or {}, private=private)
        self._ctx = {m: nz.Ctx(str(client.id), m) for m in ("watchTickers", "watchOrders")}
        self._ohlcv_ctx = nz.Ctx(str(client.id), "watchOHLCV")
        self._ticker_marks: dict[str, tuple[Any, ...]] = {}
        self._order_marks: dict[str, tuple[Any, ...]] = {}
        watch_tickers = client.options.get("watchTickers")
        if isinstance(watch_tickers, dict) and watch_tickers.get("name") == "miniTicker":
            watch_tickers["name"] = "ticker"  # the full 24 h ticker: bid and ask too

    def _markets(self) -> None:
        """The REST client's markets (set once: the stream never loads them by REST)."""
        if not self._client.markets and self._rest.markets:
            self._client.set_markets(list(self._rest.markets.values()), self._rest.currencies)

    async def watch_candles(
        self, markets: Sequence[MarketKey], after_ms: Mapping[MarketKey, int]
    ) -> list[Candles]:
        """Closed candles newer than ``after_ms`` of every market (waits for an update when
        ccxt's cache has none: what came while nobody waited is in the cache, not signalled)."""
        self._markets()
        found = self._closed_candles(markets, after_ms)
        if found:
            return found
        client = self._client
        try:
            if client.has.get("watchOHLCVForSymbols"):
                await client.watch_ohlcv_for_symbols([[s, tf] for s, tf in markets])
            else:  # one watch per market: whichever updates first
                watches = [asyncio.ensure_future(client.watch_ohlcv(s, tf)) for s, tf in markets]
                try:
                    done, _ = await asyncio.wait(watches, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for watch in watches:
                        if not watch.done():
                            watch.cancel()
                for watch in done:
                    watch.result()  # raises what failed
        except Exception as exc:
            raise self._translate(exc, "watch_ohlcv", None) from exc
        return self._closed_candles(markets, after_ms)

    def _closed_candles(
        self, markets: Sequence[MarketKey], after_ms: Mapping[MarketKey, int]
    ) -> list[Candles]:
        out: list[Candles] = []
        for symbol, tf in markets:
            stored = (self._client.ohlcvs.get(symbol) or {}).get(tf)
            if not stored or len(stored) < 2:
                continue
            recent = list(stored)[-RECENT_BARS:]  # older bars were handed on, or REST fills them
            rows = nz.ohlcv([list(r) for r in recent], self._ohlcv_ctx.at(symbol))
            rows = rows[np.argsort(rows[:, 0], kind="stable")][:-1]  # the newest is still forming
            rows = rows[rows[:, 0] > after_ms.get((symbol, tf), -1)]
            if rows.shape[0]:
                out.append(Candles(symbol, tf, rows))
        return out

    async def watch_tickers(self, symbols: Sequence[str]) -> dict[str, Ticker]:
        """The tickers that changed since the last call (waits when none has)."""
        self._markets()
        found = self._changed_tickers(symbols)
        if not found:
            try:
                await self._client.watch_tickers(list(symbols))
            except Exception as exc:
                raise self._translate(exc, "watch_tickers", None) from exc
            found = self._changed_tickers(symbols)
        return nz.tickers(found, self._ctx["watchTickers"])

    def _changed_tickers(self, symbols: Sequence[str]) -> dict[str, Any]:
        tickers = self._client.tickers or {}
        out = {}
        for symbol in symbols:
            raw = tickers.get(symbol)
            if raw is None:
                continue
            mark = (raw.get("timestamp"), raw.get("last"), raw.get("bid"), raw.get("ask"))
            if self._ticker_marks.get(symbol) != mark:
                self._ticker_marks[symbol] = mark
                out[symbol] = raw
        return out

    async def watch_orders(self) -> list[Order]:
        """Orders of the account that changed since the last call (waits when none has)."""
        self._markets()
        found = self._changed_orders()
        if not found:
            try:
                await self._client.watch_orders()
            except Exception as exc:
                raise self._translate(exc, "watch_orders", None) from exc
            found = self._changed_orders()
        return nz.many(found, self._ctx["watchOrders"], nz.order)

    def _changed_orders(self) -> list[Any]:
        out = []
        for raw in list(self._client.orders or []):
            key = str(raw.get("id"))
            mark = (raw.get("status"), raw.get("filled"), raw.get("lastUpdateTimestamp"))
            if self._order_marks.get(key) != mark:
                self._order_marks[key] = mark
                out.append(raw)
        if len(self._order_marks) > 4 * ORDER_CACHE:  # ccxt keeps the newest; so do we
            live = {str(raw.get("id")) for raw in self._client.orders or []}
            self._order_marks = {k: v for k, v in self._order_marks.items() if k in live}
        return out

    @property
    def client(self) -> object:
        """The ccxt.pro exchange object itself."""
        client: object = self._client
        return client

    async def close(self) -> None:
        """Close ccxt's sockets and session (even when cancelled: ``close_ccxt_client``)."""
        await close_ccxt_client(self._client)

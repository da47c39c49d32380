"""Ports to the market: what the tutorial checks need from the paper exchange.

These are the far side of a dependency built in parallel (the Exchange Service); education may
not import ``omegafarm.exchange`` (they are siblings in the layer order), so the exchange side
satisfies these Protocols structurally and the composition root passes it in. ``fetch_orders``
has ccxt's name, so ``ExchangeService`` and ``PaperExchange`` fit it as they are (orders may be
ccxt dicts or objects with the same attribute names); candles come through the one adapter
over ``fetch_ohlcv`` below, :class:`OhlcvCandles` (used by ``omega up`` and ``omega learn``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt


class OrderLike(Protocol):
    """An order object (e.g. ``omegafarm.exchange.models.Order``): side, type, status, price."""

    @property
    def side(self) -> object:
        """The order's side."""
        ...

    @property
    def type(self) -> object:
        """The order's type."""
        ...

    @property
    def status(self) -> object:
        """The order's status."""
        ...

    @property
    def price(self) -> object:
        """The order's price."""
        ...


class PaperOrderSource(Protocol):
    """Orders on the paper exchange; dicts or objects carrying side, type, status and price."""

    async def fetch_orders(self, symbol: str) -> Sequence[Mapping[str, object] | OrderLike]:
        """The account's orders (open and closed) for ``symbol``."""
        ...


class CandleSource(Protocol):
    """Candles of a market: rows of ``[timestamp_ms, open, high, low, close, volume]``."""

    async def fetch_candles(
        self, symbol: str, timeframe: str, limit: int
    ) -> Sequence[Sequence[float]] | npt.NDArray[np.float64]:
        """The last ``limit`` candles of ``symbol`` at ``timeframe``, oldest first."""
        ...


Candles = Sequence[Sequence[float]] | npt.NDArray[np.float64]


class OhlcvSource(Protocol):
    """Anything with ccxt's ``fetch_ohlcv`` (the Exchange Service, the paper exchange)."""

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
    ) -> Candles:
        """Candles ``[ts, o, h, l, c, v]``, oldest first."""
        ...


class OhlcvCandles:
    """A :class:`CandleSource` over ``fetch_ohlcv``: the one candle adapter for tutorials."""

    def __init__(self, exchange: OhlcvSource) -> None:
        self._exchange = exchange

    async def fetch_candles(self, symbol: str, timeframe: str, limit: int) -> Candles:
        """The last ``limit`` candles of ``symbol`` at ``timeframe``, oldest first."""
        return await self._exchange.fetch_ohlcv(symbol, timeframe, limit=limit)

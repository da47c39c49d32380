"""Ports to the market: what the tutorial checks need from the paper exchange.

These are the far side of a dependency built in parallel (the Exchange Service); education may
not import ``omegafarm.exchange`` (they are siblings in the layer order), so the exchange side
satisfies these Protocols structurally and the composition root passes it in. ``fetch_orders``
has ccxt's name, so ``ExchangeService`` and ``PaperExchange`` fit it as they are (orders may be
ccxt dicts or objects with the same attribute names); candles come through a two-line adapter
over ``fetch_ohlcv`` (see ``omegafarm.runtime``).
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

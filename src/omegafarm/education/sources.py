"""Ports to the market: what the tutorial checks need from the paper exchange.

These are the far side of a dependency built in parallel (the Exchange Service); education may
not import ``omegafarm.exchange`` (they are siblings in the layer order), so the exchange side
satisfies these Protocols structurally and the composition root passes it in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol


class PaperOrderSource(Protocol):
    """Orders on the paper exchange; dicts carry at least side, type, status and price."""

    async def fetch_orders(self, symbol: str) -> Sequence[Mapping[str, object]]:
        """The account's orders (open and closed) for ``symbol``."""
        ...


class CandleSource(Protocol):
    """Candles of a market: rows of ``[timestamp_ms, open, high, low, close, volume]``."""

    async def fetch_candles(
        self, symbol: str, timeframe: str, limit: int
    ) -> Sequence[Sequence[float]]:
        """The last ``limit`` candles of ``symbol`` at ``timeframe``, oldest first."""
        ...

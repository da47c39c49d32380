"""The paper exchange: a deterministic simulated venue with ccxt's async face (``id="paper"``).

``PaperVenue`` is the adapter ExchangeService (and the backtest) talk to, typed models in and
out; ``PaperExchange`` is the simulated exchange itself, with ccxt's async face (what
``ExchangeService.get_exchange_client()`` returns); ``PaperSettings`` configures it; the
market sources feed it synthetic or replayed candles.
See docs/paper-exchange.md for the matching rules and the order-book formulas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegafarm._lazy import lazy_exports

if TYPE_CHECKING:
    from omegafarm.exchange.paper._source import (
        MarketSource,
        MarketSpec,
        ReplaySource,
        write_candles,
    )
    from omegafarm.exchange.paper._synthetic import SyntheticSource
    from omegafarm.exchange.paper.config import BookSettings, PaperSettings
    from omegafarm.exchange.paper.exchange import PaperExchange, build_source
    from omegafarm.exchange.paper.venue import PaperVenue
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "omegafarm.exchange.paper._source": (
                "MarketSource",
                "MarketSpec",
                "ReplaySource",
                "write_candles",
            ),
            "omegafarm.exchange.paper._synthetic": ("SyntheticSource",),
            "omegafarm.exchange.paper.config": (
                "BookSettings",
                "PaperSettings",
            ),
            "omegafarm.exchange.paper.exchange": (
                "PaperExchange",
                "build_source",
            ),
            "omegafarm.exchange.paper.venue": ("PaperVenue",),
        },
    )

__all__ = [
    "BookSettings",
    "MarketSource",
    "MarketSpec",
    "PaperExchange",
    "PaperSettings",
    "PaperVenue",
    "ReplaySource",
    "SyntheticSource",
    "build_source",
    "write_candles",
]

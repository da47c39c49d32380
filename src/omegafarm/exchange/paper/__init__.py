"""The paper exchange: a deterministic simulated venue with ccxt's async face (``id="paper"``).

``PaperExchange`` is an adapter that ExchangeService drives exactly like a ccxt exchange;
``PaperSettings`` configures it; the market sources feed it synthetic or replayed candles.
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
        },
    )

__all__ = [
    "BookSettings",
    "MarketSource",
    "MarketSpec",
    "PaperExchange",
    "PaperSettings",
    "ReplaySource",
    "SyntheticSource",
    "build_source",
    "write_candles",
]

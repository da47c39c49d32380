"""Fill models: how far from the bar's open a taker order fills (``BookSettings.fill``).

- ``book``: the simulated order book of ``_book`` (spread from volatility, depth from volume):
  a large order walks many levels. Honest on crypto candles, whose volume is traded units; on
  data whose volume is a tick count (most FX feeds) the levels are tiny and slippage explodes.
- ``spread``: the book's spread only (from volatility, no depth): every taker fill pays half the
  spread, whatever its size. Needs no meaningful volume, so it fits crypto and FX alike; the
  default of ``omega backtest``.
- ``none``: fills at the open itself (backtesting.py's default), plus fees.

``slippage_bps`` adds a fixed cost per taker fill on top of any model (buys pay up, sells get
less). Limit orders keep their limit: a model only moves the price a taker order meets.
"""

from __future__ import annotations

from omegafarm.exchange.paper._book import Book, book_terms, constants
from omegafarm.exchange.paper._source import Candles, MarketSpec
from omegafarm.exchange.paper._state import ZERO, dec
from omegafarm.exchange.paper.config import BookSettings


def book_at(
    candles: Candles, stop: int, mid: float, spec: MarketSpec, settings: BookSettings
) -> Book:
    """The book a taker order meets under ``settings.fill`` (see the module docstring)."""
    fill = settings.fill
    slip = constants(settings)[4]  # == dec(settings.slippage_bps) / 10_000, made once
    if fill == "none":  # no statistics needed: the open itself (plus any slippage)
        return Book(dec(mid), ZERO, ZERO, spec.amount_step, spec.price_tick, slip, True)
    mid_d, half_spread, gap, qty = book_terms(candles, stop, mid, spec, settings)
    if fill == "book":  # the depth book as it is, or plus a fixed slippage
        if not slip:
            return Book(mid_d, half_spread, gap, qty, spec.price_tick)
        return Book(mid_d, half_spread, gap, qty, spec.price_tick, slip)
    return Book(mid_d, half_spread, ZERO, qty, spec.price_tick, slip, True)  # spread: no depth


def describe(settings: BookSettings) -> str:
    """One line for the top of a report: the model and any fixed slippage."""
    what = {
        "book": f"book (depth {settings.level_volume_fraction:g} of bar volume per level)",
        "spread": "spread (half the volatility spread per taker fill, no depth)",
        "none": "none (at the open)",
    }[settings.fill]
    extra = f" + {settings.slippage_bps:g} bp slippage" if settings.slippage_bps else ""
    return f"{what}{extra}"

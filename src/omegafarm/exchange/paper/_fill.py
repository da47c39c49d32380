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

from dataclasses import dataclass
from decimal import Decimal

from omegafarm.exchange.paper._book import Book, constants
from omegafarm.exchange.paper._book import book_at as depth_book_at
from omegafarm.exchange.paper._source import Candles, MarketSpec
from omegafarm.exchange.paper._state import ZERO, Side, ceil_to, dec, floor_to
from omegafarm.exchange.paper.config import BookSettings


@dataclass(frozen=True, slots=True)
class QuotedBook(Book):
    """A book with a fixed extra cost per fill (``slip``) and, when ``flat``, no depth: every
    level is the best level and an order of any size fills there."""

    slip: Decimal = ZERO
    flat: bool = False

    def ask(self, level: int) -> Decimal:
        step = 0 if self.flat else level
        return ceil_to(self.mid * (1 + self.half_spread + self.slip + step * self.gap), self.tick)

    def bid(self, level: int) -> Decimal:
        step = 0 if self.flat else level
        price = floor_to(self.mid * (1 - self.half_spread - self.slip - step * self.gap), self.tick)
        return max(price, self.tick)

    def walk(
        self, side: Side, amount: Decimal, limit: Decimal | None = None
    ) -> tuple[Decimal, Decimal]:
        if not self.flat:
            return Book.walk(self, side, amount, limit)
        price = self.ask(0) if side == "buy" else self.bid(0)
        if limit is not None and (price > limit if side == "buy" else price < limit):
            return ZERO, ZERO
        return amount, amount * price


def book_at(
    candles: Candles, stop: int, mid: float, spec: MarketSpec, settings: BookSettings
) -> Book:
    """The book a taker order meets under ``settings.fill`` (see the module docstring)."""
    if settings.fill == "book" and not settings.slippage_bps:  # the depth book as it is
        return depth_book_at(candles, stop, mid, spec, settings)
    slip = constants(settings)[4]  # == dec(settings.slippage_bps) / 10_000, made once
    if settings.fill == "none":  # no statistics needed: the open itself (plus any slippage)
        return QuotedBook(dec(mid), ZERO, ZERO, spec.amount_step, spec.price_tick, slip, True)
    book = depth_book_at(candles, stop, mid, spec, settings)
    if settings.fill == "book":
        if not slip:
            return book
        return QuotedBook(book.mid, book.half_spread, book.gap, book.level_qty, book.tick, slip)
    half_spread = book.half_spread if settings.fill == "spread" else ZERO
    return QuotedBook(book.mid, half_spread, ZERO, book.level_qty, book.tick, slip, flat=True)


def describe(settings: BookSettings) -> str:
    """One line for the top of a report: the model and any fixed slippage."""
    what = {
        "book": f"book (depth {settings.level_volume_fraction:g} of bar volume per level)",
        "spread": "spread (half the volatility spread per taker fill, no depth)",
        "none": "none (at the open)",
    }[settings.fill]
    extra = f" + {settings.slippage_bps:g} bp slippage" if settings.slippage_bps else ""
    return f"{what}{extra}"

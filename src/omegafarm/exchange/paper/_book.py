"""The simulated order book: spread and depth derived from recent volatility and volume.

From the last ``window_bars`` closed bars before the moment of interest::

    sigma  = sqrt(mean(r_k ** 2)),  r_k = ln(close_k / close_{k-1})   (per-bar volatility)
    vbar   = mean(volume_k)                                            (per-bar volume)
    spread = max(spread_floor_bps / 10_000, spread_sigma_mult * sigma) (relative to mid)
    gap    = max(level_sigma_mult * sigma, tick / mid)                 (between levels)
    ask_i  = ceil_tick(mid * (1 + spread/2 + i * gap))     i = 0, 1, 2, ...
    bid_i  = floor_tick(mid * (1 - spread/2 - i * gap))
    qty_i  = max(step, floor_step(level_volume_fraction * vbar))       (same on every level)

The book is endless: a market order of any size walks as many levels as it needs, so a large
order pays more slippage, the way it would on a thin real book. All arithmetic is Decimal so the
prices of a fill can be checked by hand.
"""

from __future__ import annotations

import math
from decimal import Decimal
from operator import mul, sub
from typing import NamedTuple

from omegafarm.exchange.paper._source import Candles, MarketSpec
from omegafarm.exchange.paper._state import ONE, ZERO, Side, ceil_to, dec, floor_to
from omegafarm.exchange.paper.config import BookSettings

_TEN_THOUSAND = Decimal(10_000)
_TWO = Decimal(2)
_MAX_LEVELS = 1_000_000


class Book(NamedTuple):
    """One snapshot of the simulated book around ``mid`` (a named tuple: immutable, and built
    at the cost of a tuple, once per order on a backtest's hot path).

    A fill model (:mod:`._fill`) may add a fixed extra cost per fill (``slip``, relative) and,
    with ``flat``, take the depth away: every level is the best level and an order of any
    size fills there. With neither, the prices are the depth book's formulas above (adding a
    zero ``slip`` changes neither a value nor its exponent: the sum already starts at 1)."""

    mid: Decimal
    half_spread: Decimal
    gap: Decimal
    level_qty: Decimal
    tick: Decimal
    slip: Decimal = ZERO
    flat: bool = False

    def ask(self, level: int) -> Decimal:
        """Price of ask level ``level`` (0 is the best ask)."""
        step = 0 if self.flat else level
        return ceil_to(self.mid * (ONE + self.half_spread + self.slip + step * self.gap), self.tick)

    def bid(self, level: int) -> Decimal:
        """Price of bid level ``level`` (0 is the best bid); never below one tick."""
        step = 0 if self.flat else level
        below = ONE - self.half_spread - self.slip - step * self.gap
        price = floor_to(self.mid * below, self.tick)
        return max(price, self.tick)

    def levels(self, side: Side, count: int) -> list[tuple[Decimal, Decimal]]:
        """The first ``count`` levels a ``side`` order would take from (asks for a buy)."""
        price_of = self.ask if side == "buy" else self.bid
        return [(price_of(i), self.level_qty) for i in range(count)]

    def walk(
        self, side: Side, amount: Decimal, limit: Decimal | None = None
    ) -> tuple[Decimal, Decimal]:
        """Take up to ``amount`` from the book (not past ``limit``): (filled, cost)."""
        buy = side == "buy"
        price_of = self.ask if buy else self.bid
        if self.flat:  # one price for any size
            price = price_of(0)
            if limit is not None and (price > limit if buy else price < limit):
                return ZERO, ZERO
            return amount, amount * price
        filled = cost = ZERO
        level = 0
        while filled < amount and level < _MAX_LEVELS:
            price = price_of(level)
            if limit is not None and (price > limit if buy else price < limit):
                break
            qty = min(self.level_qty, amount - filled)
            filled += qty
            cost += qty * price
            level += 1
        return filled, cost


Constants = tuple[Decimal, Decimal, Decimal, Decimal, Decimal]
# by the settings object's identity (it is kept in the value, so the id cannot be reused while
# the entry lives): hashing and comparing a pydantic model per book cost more than the book
_CONSTANTS: dict[int, tuple[BookSettings, Constants]] = {}


def constants(settings: BookSettings) -> Constants:
    """The settings' factors as Decimals (spread floor, spread mult, level mult, level share,
    fixed slippage), converted once per settings object instead of once per book."""
    found = _CONSTANTS.get(id(settings))
    if found is not None and found[0] is settings:
        return found[1]
    if len(_CONSTANTS) >= 64:
        _CONSTANTS.clear()
    values = (
        dec(settings.spread_floor_bps) / _TEN_THOUSAND,
        dec(settings.spread_sigma_mult),
        dec(settings.level_sigma_mult),
        dec(settings.level_volume_fraction),
        dec(settings.slippage_bps) / _TEN_THOUSAND,
    )
    _CONSTANTS[id(settings)] = (settings, values)
    return values


def book_stats(candles: Candles, stop: int, window_bars: int) -> tuple[float, float]:
    """(sigma, vbar) of bars ``[stop - window_bars, stop)``: per-bar volatility and volume."""
    start = max(0, stop - window_bars)
    # math.log and math.fsum (exactly rounded sums) keep the book identical on every platform
    logs = list(map(math.log, candles.close[max(0, start - 1) : stop].tolist()))
    returns = list(map(sub, logs[1:], logs[:-1]))
    sigma = math.sqrt(math.fsum(map(mul, returns, returns)) / len(returns)) if returns else 0.0
    vols = candles.volume[start:stop].tolist()
    vbar = math.fsum(vols) / len(vols) if vols else 0.0
    return sigma, vbar


def book_terms(
    candles: Candles, stop: int, mid: float, spec: MarketSpec, settings: BookSettings
) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """(mid, half spread, gap, level qty) of the depth book around ``mid`` shaped by bars
    ``[stop - window, stop)`` of ``candles``."""
    sigma, vbar = book_stats(candles, stop, settings.window_bars)
    floor, spread_mult, level_mult, level_share, _ = constants(settings)
    mid_d = dec(mid)
    sigma_d = Decimal(repr(sigma))  # == dec(sigma): already a float
    spread = max(floor, spread_mult * sigma_d)
    gap = max(level_mult * sigma_d, spec.price_tick / mid_d)
    qty = max(spec.amount_step, floor_to(level_share * Decimal(repr(vbar)), spec.amount_step))
    return mid_d, spread / _TWO, gap, qty


def book_at(
    candles: Candles, stop: int, mid: float, spec: MarketSpec, settings: BookSettings
) -> Book:
    """The depth book around ``mid`` shaped by bars ``[stop - window, stop)`` of ``candles``."""
    mid_d, half_spread, gap, qty = book_terms(candles, stop, mid, spec, settings)
    return Book(mid_d, half_spread, gap, qty, spec.price_tick)

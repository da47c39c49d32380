"""Where the price is inside a bar: a path through the bar's open, high, low and close.

The path starts at the open, visits the extreme on the far side of the close first (the low
of a rising bar, the high of a falling one), then the other extreme, and ends at the close,
moving at constant speed (so a long leg takes long): ``O → L → H → C`` when ``C >= O``,
``O → H → L → C`` otherwise. It touches exactly the bar's high and low and never leaves them,
so a fill priced on it is always a price the bar traded at. Used for market orders that reach
the book in the middle of a bar in wall-clock paper trading.
"""

from __future__ import annotations

__all__ = ["intrabar_price"]


def intrabar_price(open_: float, high: float, low: float, close: float, fraction: float) -> float:
    """The price ``fraction`` (0 = the open, 1 = the close) of the way through the bar."""
    first, second = (low, high) if close >= open_ else (high, low)
    legs = ((open_, first), (first, second), (second, close))
    total = sum(abs(b - a) for a, b in legs)
    if total <= 0:
        return open_
    left = min(max(fraction, 0.0), 1.0) * total
    for a, b in legs:
        length = abs(b - a)
        if left <= length:
            return a + (b - a) * (left / length) if length else a
        left -= length
    return close

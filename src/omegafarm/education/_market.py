"""Small market computations the tutorial checks need: the current swing, SMA, ATR, sizing.

The swing comes from the project's own zig-zag (``omegafarm.cosmic.find_pivots``) and its
levels from ``omegafarm.cosmic.fibonacci``, so a tutorial teaches exactly what the analysis
service computes. Pure functions over float64 arrays, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from omegafarm.core.errors import ValidationError
from omegafarm.cosmic import PIVOT_HIGH, find_pivots
from omegafarm.cosmic.fibonacci import fibonacci_levels

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Swing:
    """The leg from the last confirmed pivot to the most extreme price since."""

    start_price: float
    end_price: float
    start_index: int
    end_index: int

    @property
    def rising(self) -> bool:
        """Whether the swing runs from a low up to a high."""
        return self.end_price > self.start_price

    def retracement(self, ratio: float) -> float:
        """The price that gives back ``ratio`` of the swing, as cosmic's Fibonacci levels do."""
        levels = fibonacci_levels(self.start_price, self.end_price).retracements
        for level in levels:
            if math.isclose(level.ratio, ratio, abs_tol=1e-9):
                return level.price
        return self.end_price - ratio * (self.end_price - self.start_price)


def current_swing(high: FloatArray, low: FloatArray, close: FloatArray) -> Swing:
    """The swing in progress: last confirmed pivot → the extreme since it (no look-ahead)."""
    if len(high) < 3 or len(high) != len(low):
        raise ValidationError("need at least 3 candles with matching highs and lows for a swing")
    pivots = find_pivots(high, low, close)
    if len(pivots) == 0:
        lo_i, hi_i = int(np.argmin(low)), int(np.argmax(high))
        if lo_i < hi_i:
            return Swing(float(low[lo_i]), float(high[hi_i]), lo_i, hi_i)
        return Swing(float(high[hi_i]), float(low[lo_i]), hi_i, lo_i)
    start_i, start_price = int(pivots.index[-1]), float(pivots.price[-1])
    if start_i + 1 >= len(high):
        prev_i = int(pivots.index[-2]) if len(pivots) > 1 else 0
        prev_price = float(pivots.price[-2]) if len(pivots) > 1 else float(close[0])
        return Swing(prev_price, start_price, prev_i, start_i)
    if int(pivots.kind[-1]) == PIVOT_HIGH:
        end_i = start_i + 1 + int(np.argmin(low[start_i + 1 :]))
        return Swing(start_price, float(low[end_i]), start_i, end_i)
    end_i = start_i + 1 + int(np.argmax(high[start_i + 1 :]))
    return Swing(start_price, float(high[end_i]), start_i, end_i)


def sma(close: FloatArray, period: int) -> float:
    """Simple moving average of the last ``period`` closes."""
    if period < 1 or len(close) < period:
        raise ValidationError(f"SMA({period}) needs {period} closes, got {len(close)}")
    return float(np.mean(close[-period:]))


def atr(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> float:
    """Wilder's average true range at the last bar."""
    if period < 1 or len(close) < period + 1:
        raise ValidationError(f"ATR({period}) needs {period + 1} candles, got {len(close)}")
    prev = close[:-1]
    tr = np.maximum(high[1:] - low[1:], np.maximum(abs(high[1:] - prev), abs(low[1:] - prev)))
    value = float(np.mean(tr[:period]))
    for x in tr[period:]:
        value = (value * (period - 1) + float(x)) / period
    return value


def position_size(equity: float, risk_pct: float, entry: float, stop: float) -> float:
    """Units to buy so that a stop-out loses ``risk_pct`` percent of ``equity``."""
    if entry == stop:
        raise ValidationError("entry and stop must differ")
    return equity * risk_pct / 100.0 / abs(entry - stop)

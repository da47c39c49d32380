"""Small market computations the tutorial checks need: the current swing, SMA, ATR, sizing.

TODO(cosmic): switch ``current_swing`` to ``omegafarm.cosmic.pivots.find_pivots`` and the level
to ``omegafarm.cosmic.fibonacci`` once those modules are merged; until then a percent zig-zag
here keeps the tutorials working. Pure functions over float64 arrays, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from omegafarm.core.errors import ValidationError

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
        return self.end_price > self.start_price

    def retracement(self, ratio: float) -> float:
        """The price that gives back ``ratio`` of the swing, measured from its end."""
        return self.end_price - ratio * (self.end_price - self.start_price)


def _pivots(high: FloatArray, low: FloatArray, threshold: float) -> list[tuple[int, float, int]]:
    """Percent zig-zag pivots as (index, price, +1 high / -1 low), confirmed ones only."""
    pivots: list[tuple[int, float, int]] = []
    trend = 0  # +1 tracking a high, -1 tracking a low, 0 not yet known
    hi_i, lo_i = 0, 0
    for i in range(1, len(high)):
        if trend >= 0 and high[i] > high[hi_i]:
            hi_i = i
        if trend <= 0 and low[i] < low[lo_i]:
            lo_i = i
        if trend >= 0 and hi_i < i and low[i] < high[hi_i] * (1 - threshold):
            pivots.append((hi_i, float(high[hi_i]), 1))
            trend, lo_i = -1, i
        elif trend <= 0 and lo_i < i and high[i] > low[lo_i] * (1 + threshold):
            pivots.append((lo_i, float(low[lo_i]), -1))
            trend, hi_i = 1, i
    return pivots


def current_swing(high: FloatArray, low: FloatArray, threshold: float = 0.03) -> Swing:
    """The swing in progress: last confirmed pivot → extreme since it (no look-ahead)."""
    if len(high) < 3 or len(high) != len(low):
        raise ValidationError("need at least 3 candles with matching highs and lows for a swing")
    pivots = _pivots(high, low, threshold)
    if not pivots:
        lo_i, hi_i = int(np.argmin(low)), int(np.argmax(high))
        if lo_i < hi_i:
            return Swing(float(low[lo_i]), float(high[hi_i]), lo_i, hi_i)
        return Swing(float(high[hi_i]), float(low[lo_i]), hi_i, lo_i)
    start_i, start_price, kind = pivots[-1]
    if kind == 1:
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

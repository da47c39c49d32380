"""omegafarm.cosmic: pivots, Fibonacci levels, harmonic patterns, cycles and their evidence.

Pure functions over numpy arrays (no I/O, no services, no global state); ``service.py`` is the
only module that knows about :class:`~omegafarm.core.BaseService`. Candles are the Exchange
Service's ``(n, 6)`` float array ``[timestamp_ms, open, high, low, close, volume]`` or a
DataFrame with those columns.
"""

from __future__ import annotations

from omegafarm.cosmic._ohlcv import Ohlcv, as_ohlcv, as_price_array
from omegafarm.cosmic.pivots import (
    PIVOT_HIGH,
    PIVOT_LOW,
    Pivots,
    ZigZag,
    ZigZagConfig,
    average_true_range,
    find_pivots,
    pivots_from_ohlcv,
)

__all__ = [
    "PIVOT_HIGH",
    "PIVOT_LOW",
    "Ohlcv",
    "Pivots",
    "ZigZag",
    "ZigZagConfig",
    "as_ohlcv",
    "as_price_array",
    "average_true_range",
    "find_pivots",
    "pivots_from_ohlcv",
]

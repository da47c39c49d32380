"""omegafarm.cosmic: pivots, Fibonacci levels, harmonic patterns, cycles and their evidence.

Pure functions over numpy arrays (no I/O, no services, no global state); ``service.py`` is the
only module that knows about :class:`~omegafarm.core.BaseService`. Candles are the Exchange
Service's ``(n, 6)`` float array ``[timestamp_ms, open, high, low, close, volume]`` or a
DataFrame with those columns.
"""

from __future__ import annotations

from omegafarm.cosmic._ohlcv import Ohlcv, as_ohlcv, as_price_array
from omegafarm.cosmic.fibonacci import (
    EXTENSIONS,
    PROJECTIONS,
    RETRACEMENTS,
    ConfluenceZone,
    FibAnalysis,
    FibLevel,
    FibLevels,
    confluence_zones,
    fibonacci_analysis,
    fibonacci_levels,
)
from omegafarm.cosmic.harmonics import (
    HarmonicConfig,
    Pattern,
    PatternScan,
    PatternSpec,
    RatioTable,
    identify_patterns,
    load_ratio_table,
)
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
    "EXTENSIONS",
    "PIVOT_HIGH",
    "PIVOT_LOW",
    "PROJECTIONS",
    "RETRACEMENTS",
    "ConfluenceZone",
    "FibAnalysis",
    "FibLevel",
    "FibLevels",
    "HarmonicConfig",
    "Ohlcv",
    "Pattern",
    "PatternScan",
    "PatternSpec",
    "Pivots",
    "RatioTable",
    "ZigZag",
    "ZigZagConfig",
    "as_ohlcv",
    "as_price_array",
    "average_true_range",
    "confluence_zones",
    "fibonacci_analysis",
    "fibonacci_levels",
    "find_pivots",
    "identify_patterns",
    "load_ratio_table",
    "pivots_from_ohlcv",
]

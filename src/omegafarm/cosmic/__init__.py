"""omegafarm.cosmic: pivots, Fibonacci levels, harmonic patterns, cycles and their evidence.

Pure functions over numpy arrays (no I/O, no services, no global state); ``service.py`` is the
only module that knows about :class:`~omegafarm.core.BaseService`. Candles are the Exchange
Service's ``(n, 6)`` float array ``[timestamp_ms, open, high, low, close, volume]`` or a
DataFrame with those columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegafarm._lazy import lazy_exports

if TYPE_CHECKING:
    from omegafarm.cosmic._ohlcv import Ohlcv, as_ohlcv, as_price_array
    from omegafarm.cosmic.config import CosmicSettings
    from omegafarm.cosmic.cycles import CycleAnalysis, predict_cycles
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
    from omegafarm.cosmic.golden import GoldenAnalysis, analyze_golden_ratio
    from omegafarm.cosmic.harmonics import (
        HarmonicConfig,
        Pattern,
        PatternScan,
        PatternSpec,
        RatioTable,
        identify_patterns,
        load_ratio_table,
    )
    from omegafarm.cosmic.harmony import HarmonyResult, calculate_harmony
    from omegafarm.cosmic.incremental import CosmicStream, StreamUpdate
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
    from omegafarm.cosmic.resonance import ResonanceResult, calculate_resonance
    from omegafarm.cosmic.service import CosmicFactorService
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "omegafarm.cosmic._ohlcv": (
                "Ohlcv",
                "as_ohlcv",
                "as_price_array",
            ),
            "omegafarm.cosmic.config": ("CosmicSettings",),
            "omegafarm.cosmic.cycles": (
                "CycleAnalysis",
                "predict_cycles",
            ),
            "omegafarm.cosmic.fibonacci": (
                "EXTENSIONS",
                "PROJECTIONS",
                "RETRACEMENTS",
                "ConfluenceZone",
                "FibAnalysis",
                "FibLevel",
                "FibLevels",
                "confluence_zones",
                "fibonacci_analysis",
                "fibonacci_levels",
            ),
            "omegafarm.cosmic.golden": (
                "GoldenAnalysis",
                "analyze_golden_ratio",
            ),
            "omegafarm.cosmic.harmonics": (
                "HarmonicConfig",
                "Pattern",
                "PatternScan",
                "PatternSpec",
                "RatioTable",
                "identify_patterns",
                "load_ratio_table",
            ),
            "omegafarm.cosmic.harmony": (
                "HarmonyResult",
                "calculate_harmony",
            ),
            "omegafarm.cosmic.incremental": (
                "CosmicStream",
                "StreamUpdate",
            ),
            "omegafarm.cosmic.pivots": (
                "PIVOT_HIGH",
                "PIVOT_LOW",
                "Pivots",
                "ZigZag",
                "ZigZagConfig",
                "average_true_range",
                "find_pivots",
                "pivots_from_ohlcv",
            ),
            "omegafarm.cosmic.resonance": (
                "ResonanceResult",
                "calculate_resonance",
            ),
            "omegafarm.cosmic.service": ("CosmicFactorService",),
        },
    )

__all__ = [
    "EXTENSIONS",
    "PIVOT_HIGH",
    "PIVOT_LOW",
    "PROJECTIONS",
    "RETRACEMENTS",
    "ConfluenceZone",
    "CosmicFactorService",
    "CosmicSettings",
    "CosmicStream",
    "CycleAnalysis",
    "FibAnalysis",
    "FibLevel",
    "FibLevels",
    "GoldenAnalysis",
    "HarmonicConfig",
    "HarmonyResult",
    "Ohlcv",
    "Pattern",
    "PatternScan",
    "PatternSpec",
    "Pivots",
    "RatioTable",
    "ResonanceResult",
    "StreamUpdate",
    "ZigZag",
    "ZigZagConfig",
    "analyze_golden_ratio",
    "as_ohlcv",
    "as_price_array",
    "average_true_range",
    "calculate_harmony",
    "calculate_resonance",
    "confluence_zones",
    "fibonacci_analysis",
    "fibonacci_levels",
    "find_pivots",
    "identify_patterns",
    "load_ratio_table",
    "pivots_from_ohlcv",
    "predict_cycles",
]

"""Synthetic candles shared by the benchmarks (a bench runs as ``python bench/NAME.py``, so
this module is importable as ``_candles``)."""

from __future__ import annotations

import numpy as np


def random_walk(n: int, seed: int, *, random_volume: bool = False) -> np.ndarray:
    """Random-walk 5-minute candles (log-normal steps, wicks around the close)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, n)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    wick = np.abs(rng.normal(0.0, 0.001, (2, n)))
    high = np.maximum(open_, close) * (1 + wick[0])
    low = np.minimum(open_, close) * (1 - wick[1])
    ts = 1_500_000_000_000 + np.arange(n) * 300_000.0
    volume = rng.uniform(1, 10, n) if random_volume else np.ones(n)
    return np.column_stack([ts, open_, high, low, close, volume])

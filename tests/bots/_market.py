"""Synthetic candle files with a known answer: a random walk, optionally plus a cycle."""

from __future__ import annotations

from pathlib import Path

import numpy as np

START_MS = 1_700_000_000_000
BAR_MS = 300_000  # 5m


def write_market(
    folder: Path, n: int, seed: int, *, amplitude: float = 0.0, period: int = 100
) -> Path:
    """``n`` 5-minute candles: log-price = random walk (0.2 % a bar) + ``amplitude`` * sine of
    ``period`` bars (the planted, mean-reverting edge). Deep volume: fills are not the issue."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    log_price = np.cumsum(rng.normal(0.0, 0.002, n)) + amplitude * np.sin(2 * np.pi * t / period)
    close = 100.0 * np.exp(log_price)
    open_ = np.concatenate([[close[0]], close[:-1]])
    wick = np.abs(rng.normal(0.0, 0.001, (2, n)))
    high = np.maximum(open_, close) * (1 + wick[0])
    low = np.minimum(open_, close) * (1 - wick[1])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "SYN_USDT-5m.csv"
    lines = ["timestamp,open,high,low,close,volume"]
    lines += [
        f"{START_MS + i * BAR_MS},{open_[i]:.6f},{high[i]:.6f},{low[i]:.6f},{close[i]:.6f},1000000"
        for i in range(n)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path

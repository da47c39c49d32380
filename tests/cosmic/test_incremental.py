"""Incremental analysis: appending candles one by one equals the batch scan on the same data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omegafarm.core.errors import ValidationError
from omegafarm.cosmic.fibonacci import analysis_from_pivots
from omegafarm.cosmic.harmonics import HarmonicConfig, identify_patterns
from omegafarm.cosmic.incremental import CosmicStream
from omegafarm.cosmic.pivots import ZigZagConfig


def _random_walk_candles(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0, 0.004, n)))
    spread = close * np.abs(rng.normal(0.0, 0.002, n))
    return np.column_stack(
        [np.arange(n) * 60_000.0, close, close + spread, close - spread, close, np.ones(n)]
    )


def _assert_same_as_batch(stream: CosmicStream, candles: np.ndarray, cfg: HarmonicConfig) -> None:
    batch = identify_patterns(candles, cfg)
    inc = stream.scan()
    assert np.array_equal(inc.pivots.index, batch.pivots.index)
    assert np.array_equal(inc.pivots.confirmed_index, batch.pivots.confirmed_index)
    assert inc.completed == batch.completed
    assert inc.forming == batch.forming
    fib = analysis_from_pivots(batch.pivots)
    assert stream.levels == fib


@pytest.mark.parametrize(
    "zigzag",
    [ZigZagConfig("atr", 1.5), ZigZagConfig("percent", 0.01)],
    ids=["atr", "percent"],
)
def test_appending_one_candle_at_a_time_equals_the_batch_scan(zigzag: ZigZagConfig) -> None:
    candles = _random_walk_candles(8_000, seed=21)
    cfg = HarmonicConfig(zigzag=zigzag)
    stream = CosmicStream(cfg)
    stream.extend(candles[:2_000])
    checkpoints = {2_500, 4_321, 8_000}
    for i in range(2_000, 8_000):
        stream.append(candles[i])
        if i + 1 in checkpoints:
            _assert_same_as_batch(stream, candles[: i + 1], cfg)
    assert len(stream.completed) > 10


def test_real_candles_incremental_equals_batch(ohlcv_dir: Path) -> None:
    candles = np.loadtxt(ohlcv_dir / "ZEC_BTC-5m.csv", delimiter=",", skiprows=1)
    cfg = HarmonicConfig(zigzag=ZigZagConfig("atr", 2.0))
    stream = CosmicStream(cfg)
    for row in candles:
        stream.append(row)
    _assert_same_as_batch(stream, candles, cfg)


def test_update_reports_new_patterns_once() -> None:
    candles = _random_walk_candles(5_000, seed=8)
    stream = CosmicStream(HarmonicConfig(zigzag=ZigZagConfig("atr", 1.5)))
    reported = []
    for row in candles:
        reported.extend(stream.append(row).new_patterns)
    assert tuple(reported) == stream.completed
    assert stream.bars == 5_000


def test_append_rejects_bad_candles() -> None:
    stream = CosmicStream()
    stream.append([1_000.0, 1.0, 2.0, 0.5, 1.5, 10.0])
    with pytest.raises(ValidationError, match="increase"):
        stream.append([1_000.0, 1.0, 2.0, 0.5, 1.5, 10.0])
    with pytest.raises(ValidationError, match="high < low"):
        stream.append([2_000.0, 1.0, 0.4, 0.5, 1.5, 10.0])
    with pytest.raises(ValidationError, match="6 fields"):
        stream.append([3_000.0, 1.0])
    with pytest.raises(ValidationError, match="NaN"):
        stream.append([3_000.0, 1.0, float("nan"), 0.5, 1.5, 10.0])

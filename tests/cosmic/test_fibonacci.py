"""Fibonacci levels: hand-checked prices on linear and log scales, projections, confluence."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omegafarm.core.errors import ValidationError
from omegafarm.cosmic.fibonacci import (
    FibLevel,
    analysis_from_pivots,
    confluence_zones,
    fibonacci_analysis,
    fibonacci_levels,
)
from omegafarm.cosmic.pivots import ZigZagConfig, find_pivots


def _prices(levels: tuple[FibLevel, ...]) -> dict[float, float]:
    return {lv.ratio: lv.price for lv in levels}


def test_up_swing_retracements_match_hand_computed_prices() -> None:
    lv = fibonacci_levels(100.0, 200.0)
    ret = _prices(lv.retracements)
    assert ret == pytest.approx(
        {0.0: 200.0, 0.236: 176.4, 0.382: 161.8, 0.5: 150.0, 0.618: 138.2, 0.786: 121.4, 1.0: 100.0}
    )


def test_up_swing_extensions_lie_beyond_the_end() -> None:
    ext = _prices(fibonacci_levels(100.0, 200.0).extensions)
    assert ext == pytest.approx(
        {
            1.272: 227.2,
            1.414: 241.4,
            1.618: 261.8,
            2.0: 300.0,
            2.618: 361.8,
            3.618: 461.8,
            4.236: 523.6,
        }
    )


def test_down_swing_mirrors_the_up_swing() -> None:
    lv = fibonacci_levels(200.0, 100.0)
    assert _prices(lv.retracements)[0.618] == pytest.approx(161.8)
    assert _prices(lv.extensions)[1.618] == pytest.approx(38.2)


def test_three_point_projection_starts_at_c() -> None:
    # A=100, B=150, C=120: the 1.0 projection is C + (B - A) = 170, 1.618 is 200.9
    proj = _prices(fibonacci_levels(100.0, 150.0, 120.0).projections)
    assert proj[1.0] == pytest.approx(170.0)
    assert proj[1.618] == pytest.approx(200.9)
    assert proj[0.618] == pytest.approx(150.9)


def test_log_scale_halfway_is_the_geometric_mean() -> None:
    lv = fibonacci_levels(100.0, 400.0, scale="log")
    assert _prices(lv.retracements)[0.5] == pytest.approx(200.0)
    assert _prices(lv.retracements)[0.618] == pytest.approx(400.0 / 4.0**0.618)
    assert _prices(lv.extensions)[2.0] == pytest.approx(1600.0)


def test_log_scale_rejects_non_positive_prices() -> None:
    with pytest.raises(ValidationError, match="positive"):
        fibonacci_levels(-1.0, 5.0, scale="log")
    with pytest.raises(ValidationError, match="finite"):
        fibonacci_levels(math.nan, 5.0)


def test_confluence_counts_distinct_swings_in_a_band() -> None:
    levels = [
        FibLevel(0.618, 100.0, "retracement", swing=1),
        FibLevel(1.618, 100.1, "extension", swing=2),
        FibLevel(0.5, 100.15, "retracement", swing=3),
        FibLevel(0.382, 100.18, "retracement", swing=3),
        FibLevel(0.5, 120.0, "retracement", swing=1),
    ]
    zones = confluence_zones(levels, width=0.002)
    assert len(zones) == 1
    assert zones[0].strength == 3
    assert (zones[0].low, zones[0].high) == (100.0, 100.18)
    assert len(zones[0].levels) == 4


def test_real_candles_give_zones_sorted_by_strength(ohlcv_dir: Path) -> None:
    candles = np.loadtxt(ohlcv_dir / "LTC_BTC-5m.csv", delimiter=",", skiprows=1)
    out = fibonacci_analysis(candles, zigzag=ZigZagConfig("atr", 3.0), swings=10)
    assert out.last_swing is not None
    assert out.zones
    strengths = [z.strength for z in out.zones]
    assert strengths == sorted(strengths, reverse=True)
    assert all(z.low <= z.center <= z.high for z in out.zones)


def test_flat_or_short_candles_give_an_empty_analysis() -> None:
    flat = np.column_stack([np.arange(50.0), *[np.full(50, 3.0)] * 5])
    assert fibonacci_analysis(flat).last_swing is None
    assert fibonacci_analysis(np.empty((0, 6))).zones == ()


@settings(max_examples=80, deadline=None)
@given(
    st.floats(0.01, 1e6),
    st.floats(0.01, 1e6),
    st.floats(0.01, 1e6),
    st.floats(0.01, 100),
    st.sampled_from(["linear", "log"]),
)
def test_levels_are_finite_and_scale_with_prices(
    a: float, b: float, c: float, k: float, scale: str
) -> None:
    base = fibonacci_levels(a, b, c, scale=scale)  # type: ignore[arg-type]
    scaled = fibonacci_levels(a * k, b * k, c * k, scale=scale)  # type: ignore[arg-type]
    for x, y in zip(base.all(), scaled.all(), strict=True):
        assert math.isfinite(x.price)
        assert y.price == pytest.approx(x.price * k, rel=1e-9, abs=1e-9 * k * max(a, b, c))


def test_levels_at_a_bar_use_only_pivots_known_by_then(ohlcv_dir: Path) -> None:
    candles = np.loadtxt(ohlcv_dir / "ADA_BTC-5m.csv", delimiter=",", skiprows=1)
    cfg = ZigZagConfig("atr", 2.0)
    full = find_pivots(candles[:, 2], candles[:, 3], candles[:, 4], cfg)
    for cut in (800, 2_222, 5_000):
        truncated = fibonacci_analysis(candles[:cut], zigzag=cfg)
        assert truncated == analysis_from_pivots(full.known_at(cut - 1))

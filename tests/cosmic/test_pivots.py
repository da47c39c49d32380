"""Zig-zag pivots: hand-checked swings, confirmation without look-ahead, input validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omegafarm.core.errors import ValidationError
from omegafarm.cosmic import (
    PIVOT_HIGH,
    PIVOT_LOW,
    ZigZag,
    ZigZagConfig,
    as_ohlcv,
    find_pivots,
    pivots_from_ohlcv,
)


def _random_walk(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.003, n)))
    spread = np.abs(rng.normal(0.0, 0.001, n))
    return close * (1 + spread), close * (1 - spread), close


def load_candles(path: Path) -> np.ndarray:
    """Read a shared OHLCV csv into the (n, 6) candle array."""
    return np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)


def test_percent_zigzag_finds_hand_checked_swings() -> None:
    # up to 110, down to 99, up to 120, down to 108 (a 10 % fall), one bar at a time
    close = np.array([100, 105, 110, 104, 99, 103, 112, 120, 115, 108, 107], dtype=float)
    piv = find_pivots(close, close, close, ZigZagConfig("percent", 0.05))
    assert piv.index.tolist() == [0, 2, 4, 7]
    assert piv.price.tolist() == [100.0, 110.0, 99.0, 120.0]
    assert piv.kind.tolist() == [PIVOT_LOW, PIVOT_HIGH, PIVOT_LOW, PIVOT_HIGH]
    # 100 is known when price rises above 105 (bar 2: 110, bar 1's 105 is not above);
    # 110 when price falls below 110 * 0.95 = 104.5 (bar 3: 104),
    # 99 when price rises above 99 * 1.05 = 103.95 (bar 5: 103 is not; bar 6: 112),
    # 120 when it falls below 114 (bar 9: 108)
    assert piv.confirmed_index.tolist() == [2, 3, 6, 9]


def test_pivots_alternate_and_are_confirmed_after_their_extreme() -> None:
    high, low, close = _random_walk(20_000)
    piv = find_pivots(high, low, close, ZigZagConfig("atr", 3.0))
    assert len(piv) > 100
    assert (np.diff(piv.kind) != 0).all()
    assert (piv.confirmed_index > piv.index).all()
    assert (np.diff(piv.index) > 0).all()
    highs = piv.kind == PIVOT_HIGH
    assert np.array_equal(piv.price[highs], high[piv.index[highs]])
    assert np.array_equal(piv.price[~highs], low[piv.index[~highs]])


@pytest.mark.parametrize(
    "config", [ZigZagConfig("atr", 2.0), ZigZagConfig("percent", 0.01)], ids=["atr", "percent"]
)
def test_truncating_the_future_never_changes_a_known_pivot(config: ZigZagConfig) -> None:
    high, low, close = _random_walk(6_000, seed=3)
    full = find_pivots(high, low, close, config)
    for cut in (500, 1_234, 3_001, 5_999):
        part = find_pivots(high[:cut], low[:cut], close[:cut], config)
        known = full.known_at(cut - 1)
        assert np.array_equal(part.index, known.index)
        assert np.array_equal(part.confirmed_index, known.confirmed_index)
        assert np.array_equal(part.price, known.price)


@pytest.mark.parametrize(
    "config", [ZigZagConfig("atr", 2.0), ZigZagConfig("percent", 0.01)], ids=["atr", "percent"]
)
def test_feeding_one_bar_at_a_time_equals_the_batch_scan(config: ZigZagConfig) -> None:
    high, low, close = _random_walk(3_000, seed=5)
    batch = find_pivots(high, low, close, config)
    zz = ZigZag(config)
    zz.feed(high[:1_000], low[:1_000], close[:1_000])
    for i in range(1_000, 3_000):
        zz.feed(high[i : i + 1], low[i : i + 1], close[i : i + 1])
    inc = zz.pivots()
    assert np.array_equal(inc.index, batch.index)
    assert np.array_equal(inc.confirmed_index, batch.confirmed_index)


def test_real_candles_give_alternating_pivots(ohlcv_dir: Path) -> None:
    candles = load_candles(ohlcv_dir / "ETH_BTC-5m.csv")
    piv = pivots_from_ohlcv(candles, ZigZagConfig("atr", 3.0))
    assert 20 < len(piv) < len(candles) // 3
    assert (np.diff(piv.kind) != 0).all()


def test_flat_and_short_input_give_no_pivots() -> None:
    flat = np.full(500, 7.0)
    assert len(find_pivots(flat, flat, flat)) == 0
    assert len(find_pivots(flat[:3], flat[:3], flat[:3], ZigZagConfig("percent", 0.01))) == 0
    assert len(pivots_from_ohlcv(np.empty((0, 6)))) == 0


@pytest.mark.parametrize(
    ("candles", "match"),
    [
        (np.zeros((5, 5)), "shape"),
        (np.full((3, 6), np.nan), "NaN"),
        (np.array([[1, 1, 1, 2, 1, 1], [2, 1, 1, 1, 1, 1]], dtype=float), "high < low"),
        (np.array([[2, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]], dtype=float), "increase"),
        ("abc", "numeric"),
    ],
    ids=["five-columns", "nan", "high-below-low", "time-backwards", "text"],
)
def test_bad_candles_raise_validation_error(candles: object, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        as_ohlcv(candles)  # type: ignore[arg-type]


def test_bad_zigzag_config_raises_validation_error() -> None:
    with pytest.raises(ValidationError, match="fraction"):
        ZigZagConfig("percent", 2.0)
    with pytest.raises(ValidationError, match="> 0"):
        ZigZagConfig("atr", 0.0)


class _Frame:
    """The two members of a DataFrame the adapter reads (pandas is not installed)."""

    def __init__(self, data: dict[str, np.ndarray]) -> None:
        self._data = data
        self.columns = list(data)

    def __getitem__(self, key: str) -> np.ndarray:
        return self._data[key]


def test_dataframe_like_input_equals_array_input() -> None:
    high, low, close = _random_walk(300)
    arr = np.column_stack([np.arange(300) * 60_000.0, close, high, low, close, np.ones(300)])
    frame = _Frame(
        dict(zip(["timestamp", "open", "high", "low", "close", "volume"], arr.T, strict=True))
    )
    assert np.array_equal(as_ohlcv(frame).as_array(), as_ohlcv(arr).as_array())


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.01, 1e6), min_size=0, max_size=200),
    st.floats(0.001, 1e3),
)
def test_pivots_are_invariant_under_price_scaling(prices: list[float], factor: float) -> None:
    p = np.asarray(prices)
    base = find_pivots(p, p, p, ZigZagConfig("percent", 0.05))
    scaled = find_pivots(p * factor, p * factor, p * factor, ZigZagConfig("percent", 0.05))
    assert np.array_equal(base.index, scaled.index)
    assert np.isfinite(base.price).all()

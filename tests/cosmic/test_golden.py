"""Golden-ratio swing relations in price and time, and Fibonacci time projections."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from omegafarm.cosmic.golden import FIB_NUMBERS, analyze_golden_ratio, time_projections
from omegafarm.cosmic.pivots import ZigZagConfig

PCT = ZigZagConfig(mode="percent", threshold=0.01)


def golden_zigzag(legs: int = 60) -> np.ndarray:
    """Swings alternating 5 and 5 x 0.618 in price, and 21 and 13 bars in time."""
    price, path = 100.0, [100.0]
    for k in range(legs):
        size, n, sign = (5.0, 21, 1.0) if k % 2 == 0 else (5.0 * 0.618, 13, -1.0)
        path += list(price + sign * size * np.arange(1, n + 1) / n)
        price = path[-1]
    return np.asarray(path)


def test_planted_golden_swings_are_found_in_price_and_time() -> None:
    result = analyze_golden_ratio(golden_zigzag(), zigzag=PCT, n_surrogates=49)
    price = [r for r in result.ratios if r.dimension == "price"]
    time = [r for r in result.ratios if r.dimension == "time"]
    assert {r.nearest for r in price} == {0.618, 1.618}
    assert max(r.error for r in price) < 0.03
    assert {r.nearest for r in time} == {0.618, 1.618}  # 13/21 and 21/13
    assert result.price.hit_rate > 0.9
    assert result.price.p_value <= 0.05
    assert result.time.hit_rate > 0.9
    assert result.time.p_value <= 0.05


def test_random_walk_golden_relations_are_not_significant() -> None:
    rng = np.random.default_rng(5)
    x = np.exp(np.cumsum(0.004 * rng.standard_normal(3000)))
    result = analyze_golden_ratio(x, zigzag=PCT, n_surrogates=49)
    assert not result.is_empty
    assert result.price.p_value > 0.05
    assert result.time.p_value > 0.05


def test_time_projections_are_after_the_confirmation_bar() -> None:
    proj = time_projections(last_pivot_bar=100, last_duration=21, confirmed_bar=110)
    bars = [p.bar_index for p in proj]
    assert bars == sorted(bars)
    assert all(b > 110 for b in bars)
    assert 100 + round(1.618 * 21) in bars
    assert {100 + f for f in FIB_NUMBERS if 100 + f > 110} <= set(bars)
    assert all(p.known_at_bar == 110 for p in proj)


@pytest.mark.parametrize("n", [0, 1, 5])
def test_too_short_input_is_empty(n: int) -> None:
    result = analyze_golden_ratio(np.linspace(1, 2, n))
    assert result.is_empty
    assert result.projections == ()


def _two_spikes() -> np.ndarray:
    """100 ones, 2.0 at bars 47 and 72: two swing ratios, but none of 9 matched random walks
    (almost all steps 0) forms one, so the p-value was 0/0 = NaN."""
    x = np.ones(100)
    x[[47, 72]] = 2.0
    return x


def test_no_random_walk_forming_a_ratio_gives_p_one_not_nan() -> None:
    result = analyze_golden_ratio(_two_spikes(), zigzag=PCT, n_surrogates=9)
    assert not result.is_empty
    for evidence in (result.price, result.time):
        assert evidence.n_null == 0
        assert evidence.p_value == 1.0
        assert np.isnan(evidence.null_mean)


@settings(max_examples=20, deadline=None)
@given(arrays(np.float64, st.integers(0, 300), elements=st.floats(1.0, 1e4)))
@example(_two_spikes())
def test_evidence_p_values_are_probabilities_whenever_there_is_a_ratio(x: np.ndarray) -> None:
    result = analyze_golden_ratio(x, zigzag=PCT, n_surrogates=9)
    if result.is_empty:
        assert np.isnan(result.price.p_value)
        return
    for evidence in (result.price, result.time):
        assert 0.0 < evidence.p_value <= 1.0
        assert 0 <= evidence.n_null <= 9

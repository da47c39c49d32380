"""Harmony (Fibonacci clustering of swing ratios vs matched random walks), Hurst and DFA."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.signal import lfilter

from omegafarm.core.errors import ValidationError
from omegafarm.cosmic.harmony import calculate_harmony, fib_hit_rate, persistence
from omegafarm.cosmic.pivots import ZigZagConfig

PCT = ZigZagConfig(mode="percent", threshold=0.01)


def fibonacci_zigzag(legs: int = 80, seed: int = 0) -> np.ndarray:
    """Piecewise-linear swings whose lengths alternate L and 0.618 L (ratios 0.618, 1.618)."""
    rng = np.random.default_rng(seed)
    price, path = 100.0, [100.0]
    for k in range(legs):
        size = 5.0 if k % 2 == 0 else 5.0 * 0.618
        sign = 1.0 if k % 2 == 0 else -1.0
        n = int(rng.integers(8, 15))
        path += list(price + sign * size * np.arange(1, n + 1) / n)
        price = path[-1]
    return np.asarray(path)


def test_planted_fibonacci_swings_cluster_far_above_random_walks() -> None:
    result = calculate_harmony(fibonacci_zigzag(), zigzag=PCT, n_surrogates=99)
    assert result.hit_rate > 0.9
    assert result.hit_rate > result.null_mean + 3 * result.null_sd
    assert result.p_value <= 0.02
    assert result.z_score > 3


def test_random_walk_shows_no_fibonacci_clustering() -> None:
    rng = np.random.default_rng(11)
    x = np.exp(np.cumsum(0.004 * rng.standard_normal(4000)))
    result = calculate_harmony(x, zigzag=PCT, n_surrogates=99)
    assert result.n_ratios > 50
    assert result.p_value > 0.05
    assert abs(result.z_score) < 3


def _from_returns(r: np.ndarray) -> np.ndarray:
    return 100 * np.exp(np.cumsum(r))


@pytest.mark.parametrize(
    ("phi", "direction"), [(0.0, 0), (0.5, 1), (-0.5, -1)], ids=["iid", "trending", "reverting"]
)
def test_hurst_and_dfa_see_memory_in_the_right_direction(phi: float, direction: int) -> None:
    rng = np.random.default_rng(3)
    r = lfilter([1.0], [1.0, -phi], 0.01 * rng.standard_normal(4000))
    hurst, dfa = persistence(_from_returns(r), n_surrogates=99, rng=rng)
    for est in (hurst, dfa):
        assert est.ci_low < est.value < est.ci_high
        if direction == 0:
            assert est.p_value > 0.05
        else:
            assert est.p_value <= 0.02
            assert np.sign(est.value - est.null_mean) == direction


def test_fib_hit_rate_counts_ratios_within_log_tolerance() -> None:
    ratios = np.array([0.618, 0.63, 0.70, 1.62, 3.0])
    assert fib_hit_rate(ratios, (0.618, 1.618), 0.03) == pytest.approx(3 / 5)


def test_short_or_flat_input_is_empty_not_an_exception() -> None:
    assert calculate_harmony(np.ones(3)).is_empty
    assert calculate_harmony(np.full(500, 7.0)).is_empty
    assert calculate_harmony(np.empty(0)).is_empty


def test_bad_tolerance_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        calculate_harmony(np.ones(10), tolerance=0.0)


def _two_spikes() -> np.ndarray:
    """Found by hypothesis: 300 ones, 2.0 at bars 98 and 285. Its swings form two ratios,
    but none of the 9 matched random walks forms one (their steps are almost all 0)."""
    x = np.ones(300)
    x[[98, 285]] = 2.0
    return x


def test_no_random_walk_forming_a_ratio_gives_p_one_not_nan() -> None:
    result = calculate_harmony(_two_spikes(), zigzag=PCT, n_surrogates=9)
    assert result.n_ratios == 2
    assert result.n_null == 0
    assert result.p_value == 1.0  # (1 + 0) / (1 + 0): no evidence, was 0/0 = NaN
    assert np.isnan(result.null_mean)
    assert np.isnan(result.z_score)


def test_n_null_counts_the_random_walks_that_formed_a_ratio() -> None:
    result = calculate_harmony(_two_spikes(), zigzag=PCT, n_surrogates=199)
    assert 0 < result.n_null < 199
    assert result.hit_rate == 0.0
    assert result.p_value == 1.0  # every walk that formed a ratio hit at least as often
    planted = calculate_harmony(fibonacci_zigzag(), zigzag=PCT, n_surrogates=99)
    assert planted.n_null == 99
    assert 0.0 < planted.p_value <= 1.0


def test_a_finite_exponent_with_no_finite_shuffle_keeps_its_value_and_gets_p_one() -> None:
    x = np.ones(222)
    x[167:] *= 2.0
    x[211:] *= 2.0
    # the one shuffle puts both jumps where every DFA block is flat: no exponent for it
    _, dfa = persistence(x, n_surrogates=1, rng=np.random.default_rng(1))
    assert np.isfinite(dfa.value)  # was dropped: every field NaN
    assert dfa.p_value == 1.0
    assert np.isnan(dfa.null_mean)
    assert np.isnan(dfa.ci_low)
    assert np.isnan(dfa.ci_high)


@settings(max_examples=20, deadline=None)
@given(
    arrays(np.float64, st.integers(0, 300), elements=st.floats(1.0, 1e4)),
    st.floats(1e-2, 1e2),
)
# moves of 1e-11: rounding-level in log prices; the Hurst exponent moved by 3e-6 with the scale
@example(np.array([1.0 + 1e-11 * ((7 * i) % 5) for i in range(100)]), 100.0)
@example(_two_spikes(), 1.0)  # no random walk formed a ratio: the p-value was NaN
def test_harmony_is_finite_and_scale_free(x: np.ndarray, c: float) -> None:
    a = calculate_harmony(x, zigzag=PCT, n_surrogates=9)
    b = calculate_harmony(x * c, zigzag=PCT, n_surrogates=9)
    assert a.n_ratios == b.n_ratios
    if not a.is_empty:
        assert 0.0 <= a.hit_rate <= 1.0
        assert a.hit_rate == pytest.approx(b.hit_rate)
        assert 0.0 < a.p_value <= 1.0
    assert np.isfinite(a.hurst.value) == np.isfinite(b.hurst.value)
    if np.isfinite(a.hurst.value):
        assert a.hurst.value == pytest.approx(b.hurst.value, abs=1e-9)

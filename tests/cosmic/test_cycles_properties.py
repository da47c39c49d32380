"""Hypothesis properties of the cycle estimator: finite, scale-free, never raises on valid input."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from omegafarm.cosmic.cycles import cycle_track, predict_cycles

prices = arrays(
    np.float64,
    st.integers(0, 420),
    elements=st.floats(1.0, 1e6, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=40, deadline=None)
@given(prices)
def test_output_is_finite_or_nan_by_design_and_p_value_is_a_probability(x: np.ndarray) -> None:
    result = predict_cycles(x, window=64, n_surrogates=19)
    for arr in (result.track.period, result.track.strength, result.track.amplitude):
        assert not np.isinf(arr).any()
    assert 0.0 <= result.p_value <= 1.0
    finite = result.track.period[np.isfinite(result.track.period)]
    assert ((finite >= 8.0 - 1e-9) & (finite <= 32.0 + 1e-9)).all()
    for tp in result.turning_points:
        assert np.isfinite([tp.bars_ahead, tp.low, tp.high]).all()


@settings(max_examples=40, deadline=None)
@given(prices, st.floats(1e-3, 1e3))
def test_scaling_prices_by_a_positive_constant_changes_nothing(x: np.ndarray, c: float) -> None:
    a = cycle_track(x, window=64, step=1)
    b = cycle_track(x * c, window=64, step=1)
    np.testing.assert_allclose(a.period, b.period, rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(a.strength, b.strength, rtol=1e-6, atol=1e-9, equal_nan=True)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 95), st.floats(1.0, 1e6))
def test_flat_or_too_short_input_is_empty_not_an_exception(n: int, level: float) -> None:
    assert predict_cycles(np.full(n, level), window=64).is_empty
    assert predict_cycles(np.full(n + 200, level), window=64).is_empty

"""Hypothesis properties of the cycle estimator: finite, scale-free, never raises on valid input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from omegafarm.cosmic.cycles import CycleTracker, cycle_track, predict_cycles

prices = arrays(
    np.float64,
    st.integers(0, 420),
    elements=st.floats(1.0, 1e6, allow_nan=False, allow_infinity=False),
)
# magnitudes from 1e-3 (near 1e-154 the power underflows: float range, not scale, is the limit)
signed = arrays(
    np.float64,
    st.integers(0, 300),
    elements=st.one_of(st.just(0.0), st.floats(1e-3, 1e6), st.floats(-1e6, -1e-3)),
)

# Found in CI: 64 ones with one 1-ulp blip. Times 0.125 the blip's log rounded away (log 0.125
# has a coarser ulp than log 1 = 0), unscaled it was "a cycle of 13.5 bars" of rounding noise.
_ULP_BLIP = np.ones(64)
_ULP_BLIP[16] = 1.0000000000000002


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
@example(_ULP_BLIP, 0.125)
def test_scaling_prices_by_a_positive_constant_changes_nothing(x: np.ndarray, c: float) -> None:
    a = cycle_track(x, window=64, step=1)
    b = cycle_track(x * c, window=64, step=1)
    np.testing.assert_allclose(a.period, b.period, rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(a.strength, b.strength, rtol=1e-6, atol=1e-9, equal_nan=True)


@settings(max_examples=25, deadline=None)
@given(signed, st.floats(1e-3, 1e3))
def test_scaling_a_signed_series_changes_nothing(x: np.ndarray, c: float) -> None:
    # not all positive: analysed raw, the flat floor is relative to the window's largest |value|
    a = cycle_track(x, window=32, step=1)
    b = cycle_track(x * c, window=32, step=1)
    np.testing.assert_allclose(a.period, b.period, rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(a.strength, b.strength, rtol=1e-6, atol=1e-9, equal_nan=True)


@pytest.mark.parametrize("level", [1.0, 0.125, 777.7, 1e6, -50.0])
@pytest.mark.parametrize(("move", "flat"), [(1e-9, True), (1e-6, False)])
def test_tracker_and_batch_agree_on_what_is_flat(level: float, move: float, flat: bool) -> None:
    # moves below FLAT_TOLERANCE (1e-8) of the price level are flat at any level
    t = np.arange(200, dtype=np.float64)
    x = level * (1.0 + move * np.sin(2 * np.pi * t / 12.0))
    track = cycle_track(x, window=64, step=1)
    tracker = CycleTracker(window=64)
    live = np.array([tracker.update(v).period for v in x])
    assert np.isnan(track.period[63:]).all() == flat
    assert np.isfinite(track.period[63:]).all() != flat
    np.testing.assert_allclose(live, track.period, rtol=1e-9, equal_nan=True)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 95), st.floats(1.0, 1e6))
def test_flat_or_too_short_input_is_empty_not_an_exception(n: int, level: float) -> None:
    assert predict_cycles(np.full(n, level), window=64).is_empty
    assert predict_cycles(np.full(n + 200, level), window=64).is_empty


@settings(max_examples=25, deadline=None)
@given(
    st.integers(192, 600),
    st.floats(-5.0, 5.0),
    st.floats(1e-6, 1e-2) | st.floats(-1e-2, -1e-6),
    st.booleans(),
)
@example(2000, 0.0, 1e-3, True)  # exp(0.001 t): "cycle of 12.3 bars, 1e-14 % of price", p 0.005
@example(600, 0.5, 1.0, False)  # an exact line: surrogates without power, power ratio 0/0
def test_a_straight_line_is_empty_not_a_cycle_of_rounding_noise(
    n: int, start: float, slope: float, log_prices: bool
) -> None:
    t = np.arange(n, dtype=np.float64)
    # log prices: exponential growth; otherwise a signed series (analysed raw) crossing zero
    x = np.exp(start + slope * t) if log_prices else slope * (t - n * (0.5 + start / 20.0))
    result = predict_cycles(x, n_surrogates=19)
    assert result.is_empty
    assert not result.significant
    assert result.p_value == 1.0
    assert "straight line" in result.message

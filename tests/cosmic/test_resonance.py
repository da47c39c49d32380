"""Resonance at reference frequencies: Nyquist honesty, surrogate p-values, Holm correction."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from omegafarm.core.errors import ValidationError
from omegafarm.cosmic.resonance import SCHUMANN_HZ, calculate_resonance, holm

FIVE_MIN_S = 300.0
REFS = {"day": 86_400.0, "4h": 14_400.0, "1h": 3_600.0}


def _walk(seed: int, n: int = 5760) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.exp(np.cumsum(0.002 * rng.standard_normal(n)))


def test_schumann_on_five_minute_bars_is_not_measurable_never_a_signal() -> None:
    (res,) = calculate_resonance(_walk(1), FIVE_MIN_S, reference_frequencies_hz=[SCHUMANN_HZ])
    assert not res.measurable
    assert not res.significant
    assert "Nyquist" in res.reason
    assert np.isnan(res.p_value)


def test_period_longer_than_half_the_series_is_not_measurable() -> None:
    (res,) = calculate_resonance(_walk(2, 500), FIVE_MIN_S, {"week": 7 * 86_400.0})
    assert not res.measurable
    assert "fewer than 2 full cycles" in res.reason


def test_planted_daily_cycle_is_significant_and_random_walk_is_not() -> None:
    t = np.arange(5760)
    planted = _walk(3) * np.exp(0.01 * np.sin(2 * np.pi * t / 288))  # 1 % daily swing
    day = calculate_resonance(planted, FIVE_MIN_S, {"day": 86_400.0})[0]
    assert day.measurable
    assert day.significant
    assert day.period_bars == pytest.approx(288.0)
    plain = calculate_resonance(_walk(3), FIVE_MIN_S, {"day": 86_400.0})[0]
    assert not plain.significant


def test_random_walk_false_positive_rate_is_controlled() -> None:
    hits = sum(
        r.significant
        for seed in range(15)
        for r in calculate_resonance(_walk(100 + seed), FIVE_MIN_S, REFS, n_surrogates=99)
    )
    assert hits <= 4  # 45 tests, Holm within each call: expect about 1


def test_results_come_back_in_the_order_asked() -> None:
    res = calculate_resonance(_walk(4), FIVE_MIN_S, REFS, {"schumann": SCHUMANN_HZ})
    assert [r.label for r in res] == ["schumann", "day", "4h", "1h"]


def test_holm_adjustment_is_monotone_and_capped() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])
    assert holm([0.2, 0.01]) == pytest.approx([0.2, 0.02])


def test_bad_sample_period_or_reference_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        calculate_resonance(_walk(5), 0.0, REFS)
    with pytest.raises(ValidationError):
        calculate_resonance(_walk(5), FIVE_MIN_S, [-1.0])


_GROWTH = np.exp(0.001 * np.arange(2000))


@pytest.mark.parametrize(
    "x", [_GROWTH, np.arange(2000) - 1000.0, np.full(2000, -3.0)], ids=["exp", "line", "flat"]
)
def test_a_straight_line_is_not_measurable_nothing_is_left_after_the_detrend(
    x: np.ndarray,
) -> None:
    for r in calculate_resonance(x, 60.0, {"10m": 600.0, "1h": 3600.0}, n_surrogates=19):
        assert not r.measurable  # was tested on float rounding
        assert not r.significant
        assert r.reason in {"flat series", STRAIGHT}


STRAIGHT = "not measurable: a straight line, nothing is left after the linear detrend"


@settings(max_examples=30, deadline=None)
@given(arrays(np.float64, st.integers(0, 300), elements=st.floats(1.0, 1e6)))
@example(_GROWTH[:300])
def test_any_finite_series_gives_probabilities_or_not_measurable(x: np.ndarray) -> None:
    for r in calculate_resonance(x, 60.0, {"10m": 600.0, "1h": 3600.0}, n_surrogates=19):
        if r.measurable:
            assert 0.0 < r.p_value <= 1.0
            assert np.isfinite(r.power_ratio)
        else:
            assert r.reason


_BLIP = np.ones(200)
_BLIP[50] = 1.0 + 3e-12  # flat when scaled by 1000 but "measured" unscaled, before the fix


@settings(max_examples=30, deadline=None)
@given(arrays(np.float64, st.integers(0, 300), elements=st.floats(1.0, 1e6)), st.floats(1e-3, 1e3))
@example(_BLIP, 1000.0)
def test_scaling_prices_by_a_positive_constant_changes_nothing(x: np.ndarray, c: float) -> None:
    refs = {"10m": 600.0, "1h": 3600.0}
    a = calculate_resonance(x, 60.0, refs, n_surrogates=19)
    b = calculate_resonance(x * c, 60.0, refs, n_surrogates=19)
    assert [(r.label, r.measurable, r.reason) for r in a] == [
        (r.label, r.measurable, r.reason) for r in b
    ]
    for r, q in zip(a, b, strict=True):
        assert r.power_ratio == pytest.approx(q.power_ratio, rel=1e-6, nan_ok=True)

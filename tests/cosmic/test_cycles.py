"""Dominant-cycle estimation: known sines, red-noise significance, no look-ahead, incremental."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import talib
from scipy.signal import lfilter

from omegafarm.core.errors import ValidationError
from omegafarm.cosmic.cycles import CycleTracker, cycle_track, predict_cycles

N = 2000


def _sine(period: float, *, noise: float, trend: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(N, dtype=np.float64)
    return np.sin(2 * np.pi * t / period) + noise * rng.standard_normal(N) + trend * t


CASES = [
    pytest.param(p, noise, trend, id=f"P{p}-noise{noise}-trend{trend}")
    for p in (10, 20, 40)
    for noise in (0.0, 1.0)
    for trend in (0.0, 0.01)
]


@pytest.mark.parametrize(("period", "noise", "trend"), CASES)
def test_sine_period_is_recovered_within_tolerance(period: int, noise: float, trend: float) -> None:
    # Stated tolerance: median of the per-bar track within 1 % (clean) / 5 % (unit noise).
    x = _sine(period, noise=noise, trend=trend, seed=period)
    track = cycle_track(x, step=1)
    est = np.nanmedian(track.period)
    tol = 0.05 if noise else 0.01
    assert abs(est - period) / period <= tol, est


@pytest.mark.parametrize("period", [10, 20, 40])
def test_noisy_sine_is_significant_and_dominant(period: int) -> None:
    x = _sine(period, noise=1.0, trend=0.01, seed=7)
    result = predict_cycles(x, n_surrogates=99)
    assert result.significant
    assert result.p_value <= 0.05
    assert abs(result.dominant_period - period) / period <= 0.05


def test_ours_beats_talib_ht_dcperiod_on_noisy_period_40_sine() -> None:
    errors_ours, errors_ht = [], []
    for seed in range(5):
        x = _sine(40, noise=1.0, trend=0.0, seed=seed)
        ours = cycle_track(x, step=1).period
        ht = talib.HT_DCPERIOD(x)
        errors_ours.append(abs(np.nanmedian(ours) - 40) / 40)
        errors_ht.append(abs(np.nanmedian(ht[100:]) - 40) / 40)
    ours_err, ht_err = float(np.median(errors_ours)), float(np.median(errors_ht))
    print(f"median period error: ours {ours_err:.3%}, HT_DCPERIOD {ht_err:.3%}")
    assert ours_err <= 0.05
    assert ours_err < ht_err


def test_random_walk_reports_no_significant_cycle() -> None:
    rng = np.random.default_rng(2024)
    x = 100 + np.cumsum(rng.standard_normal(N))
    result = predict_cycles(x)
    assert not result.significant
    assert result.turning_points == ()
    assert "no significant cycle" in result.message


def test_random_walk_false_positive_rate_is_near_alpha() -> None:
    hits = 0
    for seed in range(30):
        rng = np.random.default_rng(seed)
        x = np.exp(np.cumsum(0.01 * rng.standard_normal(1500)))
        hits += predict_cycles(x, n_surrogates=99).significant
    assert hits <= 5  # alpha 5 % of 30 is 1.5; 5 or more would be p < 0.02 under the null


def test_fat_tailed_random_walk_with_volatility_clustering_is_not_a_cycle() -> None:
    # A Gaussian AR(1) null called 16 of 40 such walks "cyclic"; the wild-bootstrap null must not.
    hits = 0
    for seed in range(25):
        rng = np.random.default_rng(seed)
        log_vol = lfilter([1.0], [1.0, -0.99], 0.15 * rng.standard_normal(3000))
        steps = np.exp(log_vol) * rng.standard_t(4, 3000) * 0.001
        hits += predict_cycles(np.exp(np.cumsum(steps)), n_surrogates=99).significant
    assert hits <= 4


def test_turning_points_bracket_the_true_next_crest_of_a_clean_sine() -> None:
    t = np.arange(1000, dtype=np.float64)
    x = 50 + np.cos(2 * np.pi * (t - 7) / 25) + 0.2 * np.random.default_rng(1).standard_normal(1000)
    result = predict_cycles(x)
    crest = next(tp for tp in result.turning_points if tp.kind == "peak")
    true_ahead = (7 - 999) % 25  # next bar b > 999 with (b - 7) % 25 == 0
    assert crest.low <= true_ahead <= crest.high
    assert abs(crest.bars_ahead - true_ahead) < 2.0


def test_truncating_the_future_never_changes_the_past_track() -> None:
    x = _sine(20, noise=0.5, trend=0.0, seed=3)
    full = cycle_track(x, step=1)
    for cut in (300, 777, 1500):
        part = cycle_track(x[:cut], step=1)
        # equal up to BLAS rounding (the matrix product is blocked differently)
        np.testing.assert_allclose(part.period, full.period[:cut], rtol=1e-12, equal_nan=True)
        np.testing.assert_allclose(part.phase, full.phase[:cut], atol=1e-9, equal_nan=True)


def test_strided_track_only_uses_windows_that_have_ended() -> None:
    x = _sine(20, noise=0.5, trend=0.0, seed=4)
    full = cycle_track(x, step=8)
    part = cycle_track(x[:901], step=8)
    np.testing.assert_allclose(part.period, full.period[:901], rtol=1e-12, equal_nan=True)


def test_incremental_tracker_matches_the_batch_track() -> None:
    x = 100 + _sine(16, noise=0.3, trend=0.0, seed=5)
    track = cycle_track(x[:400], step=1)
    tracker = CycleTracker()
    states = [tracker.update(v) for v in x[:400]]
    got = np.array([s.period for s in states])
    np.testing.assert_allclose(got, track.period, rtol=1e-9, equal_nan=True)
    got_phase = np.array([s.phase for s in states])
    np.testing.assert_allclose(got_phase[200:], track.phase[200:], atol=1e-9)


def test_tracker_rejects_non_finite_values() -> None:
    with pytest.raises(ValidationError):
        CycleTracker().update(math.nan)


def test_too_short_and_flat_inputs_give_an_empty_result() -> None:
    assert predict_cycles(np.ones(50)).is_empty
    assert predict_cycles(np.full(600, 3.0)).is_empty
    assert predict_cycles(np.empty(0)).is_empty
    assert predict_cycles(np.ones(600)).turning_points == ()


def test_non_finite_input_is_a_validation_error() -> None:
    x = np.ones(300)
    x[5] = np.nan
    with pytest.raises(ValidationError):
        predict_cycles(x)


@pytest.mark.parametrize(
    ("pair", "significant", "period"),
    [("ETH_BTC-5m", False, None), ("TRX_BTC-5m", True, 9.71)],
    ids=["eth-btc-no-cycle", "trx-btc-short-cycle"],
)
def test_golden_values_on_real_candles(
    ohlcv_dir: Path, pair: str, significant: bool, period: float | None
) -> None:
    close = np.loadtxt(ohlcv_dir / f"{pair}.csv", delimiter=",", skiprows=1)[:, 4]
    result = predict_cycles(close)
    assert result.significant is significant
    if period is None:
        assert result.p_value > 0.5
        assert result.turning_points == ()
    else:
        assert result.p_value <= 0.01
        assert result.dominant_period == pytest.approx(period, abs=0.05)
        assert len(result.turning_points) == 4


def test_long_inputs_in_float32_agree_with_float64_on_a_prefix() -> None:
    # 20,000 windows take the float32 path; a 10,000-bar prefix takes the float64 path.
    rng = np.random.default_rng(12)
    t = np.arange(20_200, dtype=np.float64)
    x = 50 * np.exp(
        0.01 * np.sin(2 * np.pi * t / 30) + np.cumsum(0.001 * rng.standard_normal(t.size))
    )
    long_track = cycle_track(x, step=1)
    short_track = cycle_track(x[:10_000], step=1)
    both = np.isfinite(short_track.period) & np.isfinite(long_track.period[:10_000])
    assert both.mean() > 0.9
    np.testing.assert_allclose(
        long_track.period[:10_000][both], short_track.period[both], rtol=1e-4
    )

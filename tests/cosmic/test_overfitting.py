"""Deflated Sharpe ratio and PBO (CSCV) against the papers' worked numbers and exact cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from omegafarm.cosmic.overfitting import (
    block_stats,
    deflated_sharpe,
    expected_max_sharpe,
    moments,
    pbo,
    pbo_from_blocks,
    probabilistic_sharpe,
    sharpe_of,
)


def test_deflated_sharpe_matches_the_worked_example_of_bailey_and_lopez_de_prado_2014() -> None:
    # Paper, section "A numerical example": annualised SR 2.5 over 5 years of daily returns
    # (T = 1250), skew -3, kurtosis 10, best of N = 100 trials whose annualised Sharpe ratios
    # have variance 1/2. Stated: SR0 = 0.1132 per day (1.7894 annualised), DSR = 0.9004.
    daily = 2.5 / math.sqrt(250)
    found = deflated_sharpe(daily, 1250, -3.0, 10.0, 100, 0.5 / 250)
    assert found.benchmark == pytest.approx(0.1132, abs=5e-5)
    assert found.benchmark * math.sqrt(250) == pytest.approx(1.7894, abs=5e-4)
    assert found.dsr == pytest.approx(0.9004, abs=5e-4)
    assert found.p_value == pytest.approx(1 - 0.9004, abs=5e-4)


def test_probabilistic_sharpe_is_one_half_at_the_benchmark_and_grows_with_the_record() -> None:
    assert probabilistic_sharpe(0.1, 0.1, 500, 0.0, 3.0) == pytest.approx(0.5)
    short = probabilistic_sharpe(0.1, 0.0, 100, 0.0, 3.0)
    long = probabilistic_sharpe(0.1, 0.0, 1000, 0.0, 3.0)
    assert 0.5 < short < long < 1.0
    # Normal returns: z = SR * sqrt(T - 1) / sqrt(1 + SR^2 / 2).
    z = 0.1 * math.sqrt(99) / math.sqrt(1 + 0.01 / 2)
    assert short == pytest.approx(stats.norm.cdf(z), abs=1e-12)


def test_expected_max_sharpe_is_zero_for_one_trial_and_grows_with_trials() -> None:
    assert expected_max_sharpe(1, 1.0) == 0.0
    values = [expected_max_sharpe(n, 1.0) for n in (10, 100, 1000)]
    assert values == sorted(values)
    # The expected maximum of N standard normals (false-strategy theorem approximation):
    draws = np.random.default_rng(0).standard_normal((20_000, 100)).max(axis=1)
    assert values[1] == pytest.approx(float(draws.mean()), rel=0.02)


def test_block_statistics_give_the_moments_of_the_whole_series() -> None:
    r = np.random.default_rng(1).standard_t(5, 2_000) * 0.01 + 0.0005
    blocks = block_stats(r, [0, 300, 1100, 2_000])
    m = moments(blocks)
    assert m.count == 2_000
    assert m.sharpe == pytest.approx(r.mean() / r.std(), rel=1e-9)
    assert m.skew == pytest.approx(stats.skew(r), rel=1e-7)
    assert m.kurtosis == pytest.approx(stats.kurtosis(r, fisher=False), rel=1e-7)
    assert float(sharpe_of(blocks)) == pytest.approx(m.sharpe, rel=1e-9)


def test_pbo_is_zero_when_the_in_sample_winner_wins_everywhere() -> None:
    rng = np.random.default_rng(2)
    returns = rng.normal(0.0, 0.01, (800, 6))
    returns[:, 3] += 0.01  # one trial is better in every block
    found = pbo(returns, blocks=8)
    assert found.combinations == math.comb(8, 4)
    assert found.pbo == 0.0


def test_pbo_is_one_when_the_in_sample_winner_is_always_the_out_of_sample_loser() -> None:
    # Two trials, four blocks: trial 0 earns in blocks 0-1 and loses in 2-3, trial 1 the
    # opposite. Every split that makes one the training winner makes it the test loser,
    # except the splits that mix the blocks evenly (both tie in-sample: argmax picks 0 and
    # its out-of-sample score ties too -> logit 0, counted as overfit, as in the paper's <= 0).
    block = np.array([0.01, 0.03])  # two returns per block: mean 0.02, spread 0.01
    up, down = np.tile(block, 2), np.tile(-block, 2)
    returns = np.column_stack([np.concatenate([up, down]), np.concatenate([down, up])])
    found = pbo(returns, blocks=4)
    assert found.combinations == 6
    assert found.pbo == 1.0


def test_pbo_of_pure_noise_trials_is_near_one_half() -> None:
    rng = np.random.default_rng(3)
    values = [pbo(rng.normal(0.0, 0.01, (400, 20)), blocks=8).pbo for _ in range(20)]
    assert 0.35 < float(np.mean(values)) < 0.65


def test_pbo_needs_an_even_number_of_blocks_and_two_trials() -> None:
    stats_ = np.zeros((3, 4, 8))
    assert math.isnan(pbo_from_blocks(stats_).pbo)
    assert math.isnan(pbo_from_blocks(np.zeros((4, 1, 8))).pbo)


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.float64, (64, 5), elements=st.floats(-0.2, 0.2, allow_nan=False)),
    st.integers(1, 500),
)
def test_finite_returns_give_finite_pbo_and_dsr(returns: np.ndarray, n_trials: int) -> None:
    found = pbo(returns, blocks=4)
    assert 0.0 <= found.pbo <= 1.0
    m = moments(block_stats(returns[:, 0], [0, 32, 64]))
    dsr = deflated_sharpe(m.sharpe, m.count, m.skew, m.kurtosis, n_trials, 1 / 63)
    assert all(math.isfinite(x) for x in (m.sharpe, m.skew, m.kurtosis, dsr.dsr))
    assert 0.0 <= dsr.p_value <= 1.0

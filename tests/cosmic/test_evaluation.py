"""The evidence harness: no edge on a random walk, look-ahead refused, baselines unbiased."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from omegafarm.core.errors import ValidationError
from omegafarm.cosmic._ohlcv import Ohlcv
from omegafarm.cosmic.evaluation import (
    EvalSettings,
    EvaluationRow,
    LookAheadError,
    MarketSignals,
    Signal,
    _row,  # the row builder, fed exact outcomes
    audit_by_truncation,
    cycle_rows,
    evaluate_candles,
    evaluate_signals,
    fibonacci_signals,
    finalize,
    pattern_signals,
    rows_to_csv,
)
from omegafarm.cosmic.harmonics import identify_patterns
from omegafarm.cosmic.pivots import pivots_from_ohlcv

FAST = EvalSettings(n_resamples=500)


def random_walk_candles(seed: int, n: int = 6000, sigma: float = 0.002) -> np.ndarray:
    """(n, 6) candles whose closes are a geometric random walk (no edge exists by design)."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(sigma * rng.standard_normal(n)))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * np.exp(np.abs(rng.standard_normal(n)) * sigma / 2)
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.standard_normal(n)) * sigma / 2)
    ts = np.arange(n) * 300_000.0
    return np.column_stack([ts, open_, high, low, close, np.ones(n)])


@pytest.fixture(scope="module")
def walks() -> dict[str, np.ndarray]:
    return {f"rw{i}": random_walk_candles(i) for i in range(3)}


def _d_extreme_signals(candles: np.ndarray, *, lie: bool = False) -> tuple[Signal, ...]:
    """Look-ahead entries: at the D extreme bar, which is only known at its confirmation."""
    return tuple(
        Signal(
            "d_extreme",
            p.bars[4],
            p.bars[4] if lie else p.confirmed_index,
            1 if p.direction == "bullish" else -1,
            *sorted(p.prz),
        )
        for p in identify_patterns(candles).completed
    )


def test_random_walk_shows_no_significant_edge_for_any_pattern(
    walks: dict[str, np.ndarray],
) -> None:
    rows = evaluate_candles(walks, FAST)
    kinds = {r.kind for r in rows}
    assert {"fib_0.618", "abcd", "cycle_direction_24bars", "cycle_turn_timing"} <= kinds
    assert sum(r.n_signals for r in rows if r.family == "pattern") >= 20
    assert not [r.kind for r in rows if r.significant]
    assert all(r.p_adjusted >= r.p_value for r in rows if r.n_signals)


def test_entering_at_the_d_extreme_is_refused_as_lookahead(walks: dict[str, np.ndarray]) -> None:
    markets = {k: MarketSignals(v, _d_extreme_signals(v)) for k, v in walks.items()}
    with pytest.raises(LookAheadError, match="look-ahead"):
        evaluate_signals(markets, FAST)


def test_unsafe_switch_shows_the_fake_edge_that_the_safe_path_refuses(
    walks: dict[str, np.ndarray],
) -> None:
    markets = {k: MarketSignals(v, _d_extreme_signals(v)) for k, v in walks.items()}
    (row,) = evaluate_signals(markets, FAST, unsafe_allow_lookahead=True)
    print(f"look-ahead fake edge on a random walk: {row.mean_net_bp:+.0f} bp, p={row.p_value}")
    assert row.note.startswith("UNSAFE")
    assert row.mean_net_bp > 20
    assert row.hit_rate > row.baseline_hit_rate + 0.2
    assert row.significant


def test_a_lying_signal_is_caught_by_the_truncation_audit(walks: dict[str, np.ndarray]) -> None:
    candles = walks["rw0"]
    liars = _d_extreme_signals(candles, lie=True)  # claims to use data only up to D

    def detector(bars: Ohlcv) -> tuple[Signal, ...]:
        return _d_extreme_signals(bars.as_array(), lie=True)

    with pytest.raises(LookAheadError, match="not found on the data up to"):
        audit_by_truncation(candles, liars, detector, n_checks=5)


def test_pattern_and_fibonacci_signals_pass_the_truncation_audit(
    walks: dict[str, np.ndarray],
) -> None:
    candles = walks["rw1"]
    pats = pattern_signals(candles)
    fibs = fibonacci_signals(candles, n_baseline=0).signals
    assert audit_by_truncation(candles, pats, pattern_signals, n_checks=15) == min(15, len(pats))
    checked = audit_by_truncation(
        candles, fibs, lambda b: fibonacci_signals(b, n_baseline=0).signals, n_checks=15
    )
    assert checked == 15


def test_fibonacci_zones_are_entered_only_after_their_swing_is_confirmed(
    walks: dict[str, np.ndarray],
) -> None:
    candles = walks["rw2"]
    piv = pivots_from_ohlcv(candles)
    market = fibonacci_signals(candles)
    assert market.signals
    for s in market.signals:
        assert s.known_at_bar == s.uses_bars_through
        assert (piv.confirmed_index < s.known_at_bar).any()
        assert s.zone_low < s.zone_high
    assert len(market.pools["fib_random_zones"]) > len(market.signals)


def test_fibonacci_baseline_is_unbiased_on_random_walks() -> None:
    # A per-swing matched baseline was biased by ~6 points here; the market pool is not.
    markets = {f"rw{i}": fibonacci_signals(random_walk_candles(100 + i), seed=i) for i in range(8)}
    rows = evaluate_signals(markets, FAST)
    assert len(rows) == 4
    for r in rows:
        assert abs(r.hit_rate - r.baseline_hit_rate) < 0.05, r
        assert not r.significant


def test_costs_are_charged_on_both_sides(walks: dict[str, np.ndarray]) -> None:
    candles = walks["rw0"]
    markets = {"rw0": MarketSignals(candles, tuple(pattern_signals(candles)))}
    free = evaluate_signals(markets, EvalSettings(cost_bps=0.0, n_resamples=200))
    paid = evaluate_signals(markets, EvalSettings(cost_bps=25.0, n_resamples=200))
    for a, b in zip(free, paid, strict=True):
        assert a.mean_net_bp - b.mean_net_bp == pytest.approx(50.0)


def test_signal_outside_the_data_or_with_unknown_pool_is_rejected() -> None:
    candles = random_walk_candles(5, n=300)
    bad = Signal("x", 999, 999, 1, 1.0, 2.0)
    with pytest.raises(ValidationError):
        evaluate_signals({"m": MarketSignals(candles, (bad,))})
    pool = Signal("x", 10, 10, 1, 1.0, 2.0, baseline="nope")
    with pytest.raises(ValidationError, match="unknown pool"):
        evaluate_signals({"m": MarketSignals(candles, (pool,))})


def _cycle_candles(seed: int, noise: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(6000)
    close = 100 * np.exp(0.01 * np.sin(2 * np.pi * t / 40) + noise * rng.standard_normal(6000))
    spread = close * 0.0002
    ts = t * 300_000.0
    return np.column_stack([ts, close, close + spread, close - spread, close, np.ones(6000)])


def test_cycle_projection_beats_momentum_and_random_phase_on_a_planted_cycle() -> None:
    st = EvalSettings(horizon_bars=10, cost_bps=0.0, n_resamples=500)
    direction, timing = cycle_rows([_cycle_candles(9, 0.0005)], st)
    assert direction.hit_rate > 0.8
    assert direction.hit_rate > direction.baseline_hit_rate
    assert direction.p_value < 0.01
    assert timing.n_signals > 100
    assert timing.hit_rate > timing.baseline_hit_rate + 0.15
    assert timing.p_value < 0.01


def test_cycle_rows_show_no_skill_on_random_walks(walks: dict[str, np.ndarray]) -> None:
    direction, timing = cycle_rows(list(walks.values()), FAST)
    assert direction.n_signals > 0
    assert timing.n_signals > 0
    assert direction.p_value > 0.01
    assert timing.p_value > 0.01
    assert timing.hit_rate <= timing.baseline_hit_rate + 0.05  # momentum is the stronger naive


def test_holm_over_rows_and_csv_table() -> None:
    rows = [
        EvaluationRow("pattern", k, 10, 0.5, 0.4, 0.6, 0.5, 1.0, 0.0, 2.0, 0.0, p)
        for k, p in (("a", 0.01), ("b", 0.04), ("c", 0.03))
    ]
    done = finalize(rows)
    assert [r.p_adjusted for r in done] == pytest.approx([0.03, 0.06, 0.06])
    assert [r.significant for r in done] == [True, False, False]
    table = list(csv.DictReader(io.StringIO(rows_to_csv(done))))
    assert [r["kind"] for r in table] == ["a", "b", "c"]
    assert {"n_signals", "hit_rate", "baseline_hit_rate", "p_value", "p_adjusted"} <= set(table[0])


def test_real_candles_produce_a_complete_table(ohlcv_dir: Path) -> None:
    markets = {
        p.stem: np.loadtxt(p, delimiter=",", skiprows=1)
        for p in sorted(ohlcv_dir.glob("*_BTC-5m.csv"))[:2]
    }
    rows = evaluate_candles(markets, FAST)
    fib = [r for r in rows if r.family == "fibonacci"]
    assert len(fib) == 4
    assert all(r.n_signals > 20 for r in fib)
    for r in rows:
        if r.n_signals:
            assert 0.0 < r.p_value <= 1.0
            assert 0.0 <= r.baseline_hit_rate <= 1.0


def test_the_table_does_not_change_when_prices_are_scaled(walks: dict[str, np.ndarray]) -> None:
    scaled = {k: v * np.array([1.0, 1e3, 1e3, 1e3, 1e3, 1.0]) for k, v in walks.items()}
    a, b = evaluate_candles(walks, FAST), evaluate_candles(scaled, FAST)
    assert [r.kind for r in a] == [r.kind for r in b]
    for x, y in zip(a, b, strict=True):
        assert x.n_signals == y.n_signals
        assert x.hit_rate == pytest.approx(y.hit_rate, nan_ok=True)
        assert x.mean_net_bp == pytest.approx(y.mean_net_bp, rel=1e-9, nan_ok=True)


@pytest.mark.parametrize(
    "bad",
    [{"horizon_bars": 0}, {"cost_bps": -1.0}, {"alpha": 1.5}, {"n_resamples": 1}],
    ids=["horizon", "cost", "alpha", "resamples"],
)
def test_bad_settings_are_validation_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        EvalSettings(**bad)


@pytest.mark.parametrize("n_signals", [1, 5])
def test_a_baseline_that_never_hit_gives_no_p_value_of_zero(n_signals: int) -> None:
    """Every signal won and none of 40 baseline placements did: strong evidence, never a
    certainty (a null rate of exactly 0 gave p = 0, and Holm keeps 0 at 0)."""
    net, base = np.full(n_signals, 0.01), np.full(40, -0.01)
    row = _row("test", "kind", net, base, FAST, seed=1)
    rows = finalize([row])

    assert 0.0 < row.p_value <= 1.0
    assert 0.0 < rows[0].p_adjusted <= 1.0
    assert row.baseline_hit_rate == 0.0  # the table still shows what was seen

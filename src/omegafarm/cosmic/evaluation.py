"""Walk-forward evidence: do patterns, Fibonacci zones and cycles beat a null on real candles?

The harness takes :class:`Signal` values — *when* a signal became known (``known_at_bar``, the
entry bar) and *which data* it was computed from (``uses_bars_through``) — and refuses any
signal known before the last bar it uses: that is look-ahead, and it is how published "edges"
are usually manufactured (entering at a pattern's D extreme, which is only known bars later
when the pivot confirms, shows a large edge on a pure random walk). The signal builders fill
both fields from the detector's own bookkeeping, and :func:`audit_by_truncation` re-runs a
detector on data cut at ``known_at_bar`` and requires each sampled signal to appear again, so
a signal that secretly used later bars is caught even if its fields lie.

Each signal is entered at the close of ``known_at_bar`` in its ``direction`` and exited after
``horizon_bars``, paying ``cost_bps`` per side. A *hit* is a positive net return (price moved
away from the zone in the expected direction by more than the costs). Baselines: Fibonacci
zones are compared with zones of the same width at random retracement ratios of every swing of
the same market, entered the same way; patterns with random entry bars of the same market and
direction. The one-sided p-value takes the larger of a two-sample moving-block bootstrap
(signals overlap in time) and the exact binomial tail against the baseline rate (the bootstrap
is too optimistic with a handful of signals). p-values are Holm-adjusted over all rows of a
table (family-wise error, valid under any dependence between rows).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace

import numpy as np
import numpy.typing as npt

from omegafarm.core.errors import ValidationError
from omegafarm.cosmic._eval_cycles import CycleOutcomes, cycle_outcomes
from omegafarm.cosmic._eval_signals import (
    FIB_POOL,
    LookAheadError,
    MarketSignals,
    Placement,
    Signal,
    fibonacci_signals,
    pattern_signals,
)
from omegafarm.cosmic._ohlcv import FloatArray, Ohlcv, OhlcvInput, as_ohlcv
from omegafarm.cosmic.harmonics import HarmonicConfig
from omegafarm.cosmic.pivots import ZigZagConfig
from omegafarm.cosmic.resonance import holm

__all__ = [
    "FIB_POOL",
    "EvalSettings",
    "EvaluationRow",
    "LookAheadError",
    "MarketSignals",
    "Placement",
    "Signal",
    "audit_by_truncation",
    "check_no_lookahead",
    "cycle_rows",
    "evaluate_candles",
    "evaluate_signals",
    "fibonacci_signals",
    "finalize",
    "pattern_signals",
    "rows_to_csv",
]


@dataclass(frozen=True)
class EvalSettings:
    """Horizon, costs and resampling sizes of an evaluation."""

    horizon_bars: int = 24
    cost_bps: float = 10.0  # per side
    n_baseline: int = 20  # random placements per signal (patterns) or per swing (Fibonacci)
    n_resamples: int = 2000
    alpha: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if self.horizon_bars < 1 or self.n_baseline < 1 or self.n_resamples < 10:
            raise ValidationError("horizon_bars, n_baseline >= 1 and n_resamples >= 10 required")
        if not (self.cost_bps >= 0 and 0 < self.alpha < 1):
            raise ValidationError(f"cost_bps must be >= 0 and alpha in (0, 1), got {self}")


@dataclass(frozen=True)
class EvaluationRow:
    """One line of the evidence table."""

    family: str
    kind: str
    n_signals: int
    hit_rate: float
    hit_ci_low: float
    hit_ci_high: float
    baseline_hit_rate: float
    mean_net_bp: float
    mean_ci_low_bp: float
    mean_ci_high_bp: float
    baseline_mean_bp: float
    p_value: float
    p_adjusted: float = math.nan
    significant: bool = False
    note: str = ""


def check_no_lookahead(market: MarketSignals, n_bars: int) -> None:
    """Raise :class:`LookAheadError` for a signal known before the data it uses (or outside)."""
    for s in market.signals:
        if s.known_at_bar < s.uses_bars_through:
            raise LookAheadError(
                f"signal {s.kind!r} is entered at bar {s.known_at_bar} but uses data through bar "
                f"{s.uses_bars_through}: that is look-ahead; enter at the confirmation bar"
            )
        if not 0 <= s.known_at_bar < n_bars or s.direction not in (-1, 1):
            raise ValidationError(
                f"signal {s.kind!r}: known_at_bar {s.known_at_bar} outside 0..{n_bars - 1} "
                f"or direction {s.direction} not +1/-1"
            )
        if s.baseline and s.baseline not in market.pools:
            raise ValidationError(f"signal {s.kind!r} names an unknown pool {s.baseline!r}")
    for name, pool in market.pools.items():
        if any(not 0 <= p.bar < n_bars or p.direction not in (-1, 1) for p in pool):
            raise ValidationError(f"pool {name!r} has a placement outside the data")


def audit_by_truncation(
    ohlcv: OhlcvInput,
    signals: Sequence[Signal],
    detector: Callable[[Ohlcv], Sequence[Signal]],
    *,
    n_checks: int = 12,
    seed: int = 0,
) -> int:
    """Re-detect sampled signals on data cut at their ``known_at_bar``; raise if one vanishes."""
    bars = as_ohlcv(ohlcv)
    if not signals:
        return 0
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(signals), size=min(n_checks, len(signals)), replace=False)
    for i in sorted(picks.tolist()):
        s = signals[i]
        k = s.known_at_bar + 1
        cut = Ohlcv(*(getattr(bars, f.name)[:k] for f in fields(Ohlcv)))
        if not any(
            g.kind == s.kind
            and g.known_at_bar == s.known_at_bar
            and math.isclose(g.zone_low, s.zone_low, rel_tol=1e-9, abs_tol=1e-12)
            for g in detector(cut)
        ):
            raise LookAheadError(
                f"signal {s.kind!r} known at bar {s.known_at_bar} is not found on the data up to "
                "that bar: it depends on later bars"
            )
    return len(picks)


# ---------------------------------------------------------------------- statistics


def _block_indices(n: int, n_resamples: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Moving-block bootstrap index rows (block ~ n^(1/3), time order kept within blocks)."""
    block = max(1, round(n ** (1 / 3)))
    starts = rng.integers(0, n - block + 1, size=(n_resamples, math.ceil(n / block)))
    idx: npt.NDArray[np.int64] = (starts[:, :, None] + np.arange(block)).reshape(n_resamples, -1)
    return idx[:, :n]


def _boot_means(values: FloatArray, n_resamples: int, rng: np.random.Generator) -> FloatArray:
    means: FloatArray = values[_block_indices(values.size, n_resamples, rng)].mean(axis=1)
    return means


def _ci(values: FloatArray, n_resamples: int, rng: np.random.Generator) -> tuple[float, float]:
    """95 % moving-block bootstrap interval of the mean."""
    if values.size < 2:
        return math.nan, math.nan
    lo, hi = np.quantile(_boot_means(values, n_resamples, rng), [0.025, 0.975])
    return float(lo), float(hi)


def _edge_p_value(
    hits: FloatArray, base_hits: FloatArray, n_resamples: int, rng: np.random.Generator
) -> float:
    """One-sided p of mean(hits) > mean(base_hits): max(block bootstrap, exact binomial).

    The binomial's null rate is the baseline's, except that a rate seen as exactly 0 or 1 on
    ``m`` placements is taken as half an event away (0.5/m): ``m`` draws cannot show that a
    rate is 0, and a null rate of 0 made any hit "impossible by chance" (p = 0, kept at 0 by
    Holm). Every other rate is k/m >= 1/m and is used as it is."""
    n, base_rate = hits.size, float(base_hits.mean())
    observed = float(hits.mean()) - base_rate
    from scipy.stats import binom  # here: scipy.stats costs ~1 s at import

    half = 0.5 / base_hits.size
    null_rate = min(max(base_rate, half), 1.0 - half)
    p_binom = float(binom.sf(int(hits.sum()) - 1, n, null_rate))
    if n < 2 or base_hits.size < 2:
        return p_binom
    diff = _boot_means(hits, n_resamples, rng) - _boot_means(base_hits, n_resamples, rng)
    p_boot = (1.0 + float((diff - observed >= observed).sum())) / (n_resamples + 1.0)
    return max(p_boot, p_binom)


def _paired_p_value(diff: FloatArray, n_resamples: int, rng: np.random.Generator) -> float:
    """One-sided p of mean(diff) > 0: block bootstrap of the centred differences (the null)."""
    if diff.size < 2:
        return 1.0
    boot = _boot_means(diff - diff.mean(), n_resamples, rng)
    return (1.0 + float((boot >= diff.mean()).sum())) / (n_resamples + 1.0)


def _empty_row(family: str, kind: str) -> EvaluationRow:
    nan = math.nan
    return EvaluationRow(family, kind, 0, nan, nan, nan, nan, nan, nan, nan, nan, 1.0)


def _row(
    family: str, kind: str, net: FloatArray, base: FloatArray, st: EvalSettings, seed: int
) -> EvaluationRow:
    if net.size == 0 or base.size == 0:
        return _empty_row(family, kind)
    rng = np.random.default_rng(seed)
    hits, base_hits = (net > 0).astype(np.float64), (base > 0).astype(np.float64)
    h_lo, h_hi = _ci(hits, st.n_resamples, rng)
    m_lo, m_hi = _ci(net * 1e4, st.n_resamples, rng)
    return EvaluationRow(
        family, kind, int(net.size), float(hits.mean()), h_lo, h_hi, float(base_hits.mean()),
        float(net.mean() * 1e4), m_lo, m_hi, float(base.mean() * 1e4),
        _edge_p_value(hits, base_hits, st.n_resamples, rng),
    )  # fmt: skip


def finalize(rows: Sequence[EvaluationRow], alpha: float = 0.05) -> list[EvaluationRow]:
    """Holm-adjust the p-values of all rows with signals and mark the significant ones."""
    tested = [i for i, r in enumerate(rows) if r.n_signals > 0]
    adj = holm([rows[i].p_value for i in tested])
    out = list(rows)
    for i, a in zip(tested, adj, strict=True):
        out[i] = replace(rows[i], p_adjusted=a, significant=a < alpha)
    return out


# ---------------------------------------------------------------------- signals -> rows


def _forward(close: FloatArray, h: int) -> FloatArray:
    fwd = np.full(close.size, np.nan)
    if close.size > h:
        fwd[: close.size - h] = close[h:] / close[: close.size - h] - 1.0
    return fwd


def _market_outcomes(
    market: MarketSignals, kind: str, st: EvalSettings, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Net returns of one kind's signals in one market, and of its baseline placements."""
    close = as_ohlcv(market.ohlcv).close
    cost, last = 2.0 * st.cost_bps / 1e4, close.size - st.horizon_bars - 1
    fwd = _forward(close, st.horizon_bars)
    chosen = [s for s in market.signals if s.kind == kind and s.known_at_bar <= last]
    net = np.array([s.direction * fwd[s.known_at_bar] - cost for s in chosen])
    pools = {s.baseline for s in chosen}
    placements = [p for name in sorted(pools - {""}) for p in market.pools[name] if p.bar <= last]
    if "" in pools and last > 0:  # random bars, same direction as each signal
        for s in chosen:
            if not s.baseline:
                bars = rng.integers(0, last + 1, size=st.n_baseline).tolist()
                placements += [Placement(b, s.direction) for b in bars]
    base = np.array([p.direction * fwd[p.bar] - cost for p in placements])
    return net, base


def evaluate_signals(
    markets: Mapping[str, MarketSignals],
    settings: EvalSettings | None = None,
    *,
    unsafe_allow_lookahead: bool = False,
) -> list[EvaluationRow]:
    """Pool signals per kind over markets and compare each kind with its random placements.

    ``unsafe_allow_lookahead=True`` skips the look-ahead refusal. It exists only to show the
    fake edge that look-ahead entries produce; such rows say so in ``note``.
    """
    st = settings or EvalSettings()
    return finalize(_signal_rows(markets, st, unsafe_allow_lookahead), st.alpha)


def _family(kind: str) -> str:
    return "fibonacci" if kind.startswith("fib_") else "pattern"


def _signal_rows(
    markets: Mapping[str, MarketSignals], st: EvalSettings, unsafe: bool
) -> list[EvaluationRow]:
    rng = np.random.default_rng(st.seed)
    pooled: dict[str, tuple[list[FloatArray], list[FloatArray]]] = {}
    for _, market in sorted(markets.items()):
        if not unsafe:
            check_no_lookahead(market, len(as_ohlcv(market.ohlcv)))
        for kind in sorted({s.kind for s in market.signals}):
            net, base = _market_outcomes(market, kind, st, rng)
            pooled.setdefault(kind, ([], []))[0].append(net)
            pooled[kind][1].append(base)
    rows = []
    for j, (kind, (nets, bases)) in enumerate(sorted(pooled.items())):
        row = _row(
            _family(kind), kind, np.concatenate(nets), np.concatenate(bases), st, st.seed + j
        )
        rows.append(replace(row, note="UNSAFE: look-ahead allowed") if unsafe else row)
    return rows


# ---------------------------------------------------------------------- cycles


def cycle_rows(
    markets: Sequence[OhlcvInput],
    settings: EvalSettings | None = None,
    *,
    window: int = 128,
    zigzag: ZigZagConfig | None = None,
) -> list[EvaluationRow]:
    """Skill of the projected cycle turns, direction and timing, against momentum projections.

    At every ``horizon/2``-th bar the causal per-bar track projects the cycle (see
    :mod:`omegafarm.cosmic._eval_cycles`). p-values are one-sided paired block bootstraps.
    """
    st = settings or EvalSettings()
    rng = np.random.default_rng(st.seed + 1)
    cost, every = 2.0 * st.cost_bps / 1e4, max(1, st.horizon_bars // 2)
    parts = [
        cycle_outcomes(
            as_ohlcv(m),
            horizon=st.horizon_bars,
            cost=cost,
            window=window,
            every=every,
            zigzag=zigzag,
        )
        for m in markets
    ]
    cyc, mom, hit, base = (
        np.concatenate([getattr(p, f.name) for p in parts]) if parts else np.empty(0)
        for f in fields(CycleOutcomes)
    )
    direction = _empty_row("cycle", f"cycle_direction_{st.horizon_bars}bars")
    if cyc.size >= 2:
        hits = (cyc > 0).astype(np.float64)
        (h_lo, h_hi), (m_lo, m_hi) = (
            _ci(hits, st.n_resamples, rng),
            _ci(cyc * 1e4, st.n_resamples, rng),
        )
        direction = replace(
            direction, n_signals=int(cyc.size), hit_rate=float(hits.mean()), hit_ci_low=h_lo,
            hit_ci_high=h_hi, baseline_hit_rate=float((mom > 0).mean()),
            mean_net_bp=float(cyc.mean() * 1e4), mean_ci_low_bp=m_lo, mean_ci_high_bp=m_hi,
            baseline_mean_bp=float(mom.mean() * 1e4),
            p_value=_paired_p_value(hits - (mom > 0), st.n_resamples, rng),
            note="baseline: momentum over the same horizon, same bars",
        )  # fmt: skip
    timing = _empty_row("cycle", "cycle_turn_timing")
    if hit.size >= 2:
        t_lo, t_hi = _ci(hit, st.n_resamples, rng)
        timing = replace(
            timing, n_signals=int(hit.size), hit_rate=float(hit.mean()), hit_ci_low=t_lo,
            hit_ci_high=t_hi, baseline_hit_rate=float(base.mean()),
            p_value=_paired_p_value(hit - base, st.n_resamples, rng),
            note="hit: next zig-zag turn within P/4 of projection; baseline: momentum projection",
        )  # fmt: skip
    return [direction, timing]


# ---------------------------------------------------------------------- one call for the CLI


def evaluate_candles(
    markets: Mapping[str, OhlcvInput],
    settings: EvalSettings | None = None,
    *,
    zigzag: ZigZagConfig | None = None,
    audit_checks: int = 8,
) -> list[EvaluationRow]:
    """Patterns, Fibonacci zones and cycles on each market: audited, pooled, Holm-adjusted."""
    st = settings or EvalSettings()
    harmonic = HarmonicConfig(zigzag=zigzag) if zigzag else None
    prepared: dict[str, MarketSignals] = {}
    for name, data in markets.items():
        bars = as_ohlcv(data)
        pats = pattern_signals(bars, harmonic)
        fib = fibonacci_signals(bars, zigzag, n_baseline=st.n_baseline, seed=st.seed)
        audit_by_truncation(
            bars, pats, lambda b: pattern_signals(b, harmonic), n_checks=audit_checks
        )
        audit_by_truncation(
            bars,
            fib.signals,
            lambda b: fibonacci_signals(b, zigzag, n_baseline=0).signals,
            n_checks=audit_checks,
        )
        prepared[name] = MarketSignals(bars, tuple(pats) + fib.signals, fib.pools)
    rows = _signal_rows(prepared, st, unsafe=False)
    rows += cycle_rows(list(markets.values()), st, zigzag=zigzag)
    return finalize(rows, st.alpha)


def rows_to_csv(rows: Sequence[EvaluationRow]) -> str:
    """The table as CSV text (header = field names, floats to 6 significant digits)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    names = [f.name for f in fields(EvaluationRow)]
    writer.writerow(names)
    for r in rows:
        writer.writerow(
            [f"{v:.6g}" if isinstance(v, float) else v for v in (getattr(r, n) for n in names)]
        )
    return buf.getvalue()

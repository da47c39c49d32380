"""Golden-ratio relationships between swings, in price and in time, and Fibonacci time projections.

For successive zig-zag swings we measure price ratios (length of a swing over the one before)
and time ratios (duration over duration), find the nearest Fibonacci ratio of each, and ask how
often they fall within a tolerance — next to the same rate on matched random walks through the
same pivot detector (see :mod:`omegafarm.cosmic.harmony`), because a random walk also produces
plenty of "golden" swings. Time projections are the bars at which a Fibonacci multiple of the
last swing's duration, or a Fibonacci number of bars, has passed since the last pivot; they are
known from the bar the last pivot was confirmed and carry no claim beyond what the evaluation
harness measures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from omegafarm.core.errors import ValidationError
from omegafarm.cosmic._ohlcv import FloatArray, as_price_array
from omegafarm.cosmic.harmony import (
    FIB_RATIOS,
    fib_hit_rate,
    null_hit_rates,
    successive_ratios,
    surrogate_p_value,
    swings,
)
from omegafarm.cosmic.pivots import ZigZagConfig

PHI = (1.0 + math.sqrt(5.0)) / 2.0
TIME_RATIOS: tuple[float, ...] = (0.382, 0.618, 1.0, 1.618, 2.618)
FIB_NUMBERS: tuple[int, ...] = (8, 13, 21, 34, 55, 89, 144)


@dataclass(frozen=True)
class SwingRatio:
    """One pair of successive swings: measured ratio, nearest Fibonacci ratio, log error."""

    swing: int  # index of the second swing
    dimension: str  # "price" or "time"
    ratio: float
    nearest: float
    error: float  # |log(ratio / nearest)|


@dataclass(frozen=True)
class TimeProjection:
    """A bar where a Fibonacci time relation to the last swing completes."""

    bar_index: int
    basis: str  # e.g. "1.618 x last swing (21 bars)" or "55 bars after pivot"
    known_at_bar: int  # the bar at which the last pivot was confirmed


@dataclass(frozen=True)
class RatioEvidence:
    """Hit rate near Fibonacci ratios, its random-walk baseline, z-score and p-value."""

    hit_rate: float
    null_mean: float
    z_score: float
    p_value: float  # 1.0 when no random walk formed a ratio (n_null 0); NaN: no ratio here
    n_null: int = 0  # random walks that formed a ratio in this dimension


@dataclass(frozen=True)
class GoldenAnalysis:
    """Swing ratios, their evidence against a random walk, and time projections."""

    ratios: tuple[SwingRatio, ...]
    price: RatioEvidence
    time: RatioEvidence
    projections: tuple[TimeProjection, ...]
    last_pivot_bar: int | None

    @property
    def is_empty(self) -> bool:
        """True when there were too few swings to form a ratio."""
        return not self.ratios


_NO_EVIDENCE = RatioEvidence(math.nan, math.nan, math.nan, math.nan)


def _nearest(values: FloatArray, targets: tuple[float, ...]) -> tuple[FloatArray, FloatArray]:
    logt = np.log(np.asarray(targets))
    dist = np.abs(np.log(values)[:, None] - logt[None, :])
    j = dist.argmin(axis=1)
    return np.asarray(targets)[j], dist[np.arange(values.size), j]


def _swing_ratios(
    lengths: FloatArray, durations: FloatArray, targets: tuple[float, ...]
) -> list[SwingRatio]:
    out: list[SwingRatio] = []
    for name, series in (("price", lengths), ("time", durations)):
        idx = np.flatnonzero(series[:-1] > 0) + 1
        if idx.size == 0:
            continue
        r = series[idx] / series[idx - 1]
        nearest, err = _nearest(r, targets)
        out += [
            SwingRatio(int(i), name, float(a), float(b), float(e))
            for i, a, b, e in zip(idx, r, nearest, err, strict=True)
        ]
    return out


def time_projections(
    last_pivot_bar: int, last_duration: int, confirmed_bar: int
) -> tuple[TimeProjection, ...]:
    """Fibonacci multiples of the last swing's duration and Fibonacci bar counts after a pivot.

    Only bars after ``confirmed_bar`` are returned: a projection is useless once it has passed.
    """
    out = [
        TimeProjection(
            last_pivot_bar + round(r * last_duration),
            f"{r:g} x last swing ({last_duration} bars)",
            confirmed_bar,
        )
        for r in TIME_RATIOS
    ]
    out += [
        TimeProjection(last_pivot_bar + f, f"{f} bars after pivot", confirmed_bar)
        for f in FIB_NUMBERS
    ]
    return tuple(sorted((p for p in out if p.bar_index > confirmed_bar), key=lambda p: p.bar_index))


def analyze_golden_ratio(
    close: npt.ArrayLike,
    *,
    zigzag: ZigZagConfig | None = None,
    ratios: tuple[float, ...] = FIB_RATIOS,
    tolerance: float = 0.03,
    n_surrogates: int = 99,
    seed: int = 0,
) -> GoldenAnalysis:
    """Golden/Fibonacci ratios of successive swings (price and time) and time projections."""
    if not (0 < tolerance < 1) or not ratios or min(ratios) <= 0:
        raise ValidationError("tolerance must be in (0, 1) and ratios positive and non-empty")
    x = as_price_array(close, "close")
    if x.size < 2:
        return GoldenAnalysis((), _NO_EVIDENCE, _NO_EVIDENCE, (), None)
    config = zigzag or ZigZagConfig()
    lengths, durations, piv = swings(x, config)
    table = tuple(_swing_ratios(lengths, durations, ratios))
    projections: tuple[TimeProjection, ...] = ()
    last_bar = int(piv.index[-1]) if len(piv) else None
    if len(piv) >= 2:
        projections = time_projections(
            int(piv.index[-1]), int(piv.index[-1] - piv.index[-2]), int(piv.confirmed_index[-1])
        )
    if not table:
        return GoldenAnalysis((), _NO_EVIDENCE, _NO_EVIDENCE, projections, last_bar)
    null_p, null_t = null_hit_rates(
        x, config, ratios, tolerance, n_surrogates, np.random.default_rng(seed)
    )
    evidence = []
    for observed, null in (
        (fib_hit_rate(successive_ratios(lengths), ratios, tolerance), null_p),
        (fib_hit_rate(successive_ratios(durations), ratios, tolerance), null_t),
    ):
        t = surrogate_p_value(observed, null)
        evidence.append(RatioEvidence(observed, t.null_mean, t.z_score, t.p_value, t.n_null))
    return GoldenAnalysis(table, evidence[0], evidence[1], projections, last_bar)

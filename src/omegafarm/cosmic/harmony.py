"""Harmony: do swing ratios cluster near Fibonacci ratios more than a random walk's do?

The test follows Batchelor and Ramyar, "Magic numbers in the Dow" (2006): take the swings of a
price series from a turning-point filter, form the ratios of successive swing lengths, and
count how many fall within a tolerance of the Fibonacci ratios. A random walk also produces
ratios near 0.618 — the question is whether the real series does so *more often*. The null is
built the same way: random walks with the series' own (demeaned, bootstrapped) log returns, put
through the *same* pivot detector, so the detector's own preferences are in the baseline.
Batchelor and Ramyar found no excess in a century of the Dow; we report what we find here.
A walk that forms no ratio has no hit rate: the p-value is taken over the walks that do, and is
1 (no evidence, not 0/0) when none does (see :func:`surrogate_p_value`).

Next to it, two persistence measures of the log returns, each with a 95 % interval and a
p-value against shuffled returns (shuffling keeps the return distribution, destroys memory):
Hurst's rescaled range (R/S) exponent and the DFA-1 exponent (0.5 for no memory, above 0.5
for trending, below for mean-reverting). The shuffled null's mean is reported too because both
estimators are biased upward at small sample sizes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from omegafarm.core.errors import ValidationError
from omegafarm.cosmic._ohlcv import FLAT_TOLERANCE, FloatArray, as_price_array
from omegafarm.cosmic.pivots import Pivots, ZigZagConfig, find_pivots

FIB_RATIOS: tuple[float, ...] = (0.382, 0.5, 0.618, 1.618, 2.618)
_MIN_SCALE = 8
_DEGENERATE = 1e-9  # block sd / fluctuation (in units of the return sd) treated as zero


@dataclass(frozen=True)
class Persistence:
    """A persistence exponent with a 95 % interval and a p-value against shuffled returns."""

    value: float
    ci_low: float
    ci_high: float
    null_mean: float
    p_value: float


_NAN_PERSISTENCE = Persistence(math.nan, math.nan, math.nan, math.nan, math.nan)


@dataclass(frozen=True)
class HarmonyResult:
    """How often successive swing ratios sit near Fibonacci ratios, against a random-walk null."""

    n_swings: int
    n_ratios: int
    hit_rate: float  # fraction of ratios within the tolerance of a Fibonacci ratio
    null_mean: float
    null_sd: float
    z_score: float
    p_value: float  # one-sided: real swings cluster more than matched random walks
    hurst: Persistence
    dfa: Persistence
    ratios: tuple[float, ...] = FIB_RATIOS
    tolerance: float = 0.03
    n_null: int = 0  # random walks that formed a ratio (p = 1 when none did)

    @property
    def is_empty(self) -> bool:
        """True when there were too few swings to form a ratio."""
        return self.n_ratios == 0


def swings(close: FloatArray, config: ZigZagConfig) -> tuple[FloatArray, FloatArray, Pivots]:
    """Swing lengths (absolute price moves) and durations (bars) between confirmed pivots."""
    piv = find_pivots(close, close, close, config)
    return np.abs(np.diff(piv.price)), np.diff(piv.index).astype(np.float64), piv


def successive_ratios(lengths: FloatArray) -> FloatArray:
    """Each swing divided by the one before it (retracement / extension ratios)."""
    prev, nxt = lengths[:-1], lengths[1:]
    ok = prev > 0
    return nxt[ok] / prev[ok]


def fib_hit_rate(ratios: FloatArray, targets: tuple[float, ...], tolerance: float) -> float:
    """Fraction of ratios within ``tolerance`` (in log terms) of any target; NaN if none."""
    if ratios.size == 0:
        return math.nan
    dist = np.abs(np.log(ratios[:, None]) - np.log(np.asarray(targets))[None, :])
    return float((dist.min(axis=1) <= tolerance).mean())


def matched_walks(close: FloatArray, n_walks: int, rng: np.random.Generator) -> FloatArray:
    """Random walks with the series' bootstrapped, demeaned log returns (or differences)."""
    positive = bool((close > 0).all())
    steps = np.diff(np.log(close)) if positive else np.diff(close)
    steps = steps - steps.mean()
    draws = rng.choice(steps, size=(n_walks, steps.size), replace=True)
    paths = np.concatenate([np.zeros((n_walks, 1)), np.cumsum(draws, axis=1)], axis=1)
    walks: FloatArray = close[0] * np.exp(paths) if positive else close[0] + paths
    return walks


def null_hit_rates(
    close: FloatArray,
    config: ZigZagConfig,
    targets: tuple[float, ...],
    tolerance: float,
    n_walks: int,
    rng: np.random.Generator,
) -> tuple[FloatArray, FloatArray]:
    """Fibonacci hit rates of price and of time ratios on matched random walks."""
    price_rates, time_rates = [], []
    for walk in matched_walks(close, n_walks, rng):
        lengths, durations, _ = swings(walk, config)
        price_rates.append(fib_hit_rate(successive_ratios(lengths), targets, tolerance))
        time_rates.append(fib_hit_rate(successive_ratios(durations), targets, tolerance))
    return np.asarray(price_rates), np.asarray(time_rates)


@dataclass(frozen=True)
class SurrogateTest:
    """An observed statistic against the surrogates on which it could be evaluated."""

    null_mean: float  # NaN when no surrogate could be evaluated
    null_sd: float
    z_score: float
    p_value: float  # never NaN for a finite observation: 1.0 when n_null is 0
    n_null: int  # surrogates with a finite statistic (the others formed no ratio)


def surrogate_p_value(observed: float, null: FloatArray) -> SurrogateTest:
    """One-sided Monte Carlo test of ``observed`` against the finite null draws.

    ``p = (1 + #{null >= observed}) / (1 + n_null)``: under the null the observation is one
    more exchangeable draw, so its rank among the draws where the statistic exists is uniform;
    a surrogate that formed no ratio has no statistic and is left out of both counts. With no
    such surrogate the observation is its own only draw and ``p = 1``: no evidence, never 0/0.
    A non-finite observation is no finding: every field NaN and ``n_null`` 0.
    """
    null = null[np.isfinite(null)]
    if not math.isfinite(observed):
        return SurrogateTest(math.nan, math.nan, math.nan, math.nan, 0)
    p = (1.0 + float((null >= observed).sum())) / (null.size + 1.0)
    if null.size == 0:
        return SurrogateTest(math.nan, math.nan, math.nan, p, 0)
    mean, sd = float(null.mean()), float(null.std(ddof=1)) if null.size > 1 else 0.0
    z = (observed - mean) / sd if sd > 0 else 0.0
    return SurrogateTest(mean, sd, z, p, int(null.size))


def calculate_harmony(
    values: npt.ArrayLike,
    *,
    zigzag: ZigZagConfig | None = None,
    ratios: tuple[float, ...] = FIB_RATIOS,
    tolerance: float = 0.03,
    n_surrogates: int = 199,
    seed: int = 0,
) -> HarmonyResult:
    """Fibonacci clustering of swing ratios (z, p vs matched random walks) plus Hurst and DFA."""
    if not (0 < tolerance < 1) or not ratios or min(ratios) <= 0:
        raise ValidationError("tolerance must be in (0, 1) and ratios positive and non-empty")
    close = as_price_array(values, "values")
    config = zigzag or ZigZagConfig()
    rng = np.random.default_rng(seed)
    hurst, dfa = persistence(close, n_surrogates=n_surrogates, rng=rng)
    lengths = swings(close, config)[0] if close.size > 1 else np.empty(0)
    observed = successive_ratios(lengths)
    if observed.size == 0:
        nan = math.nan
        return HarmonyResult(
            len(lengths), 0, nan, nan, nan, nan, nan, hurst, dfa, ratios, tolerance
        )
    hit = fib_hit_rate(observed, ratios, tolerance)
    null, _ = null_hit_rates(close, config, ratios, tolerance, n_surrogates, rng)
    t = surrogate_p_value(hit, null)
    return HarmonyResult(
        len(lengths), int(observed.size), hit, t.null_mean, t.null_sd, t.z_score, t.p_value,
        hurst, dfa, ratios, tolerance, t.n_null,
    )  # fmt: skip


# ---------------------------------------------------------------------- persistence


def _scales(n: int) -> npt.NDArray[np.int64]:
    hi = n // 4
    if hi < 2 * _MIN_SCALE:
        return np.empty(0, dtype=np.int64)
    return np.unique(np.geomspace(_MIN_SCALE, hi, num=12).astype(np.int64))


def _slope(scales: npt.NDArray[np.int64], values: FloatArray) -> FloatArray:
    """Least-squares slope of log(values) on log(scales), per row of ``values`` (rows, scales)."""
    x = np.log(scales.astype(np.float64))
    x = x - x.mean()
    y = np.log(np.maximum(values, np.finfo(np.float64).tiny))
    slope: FloatArray = ((y - y.mean(axis=1, keepdims=True)) @ x) / float(x @ x)
    return slope


def rescaled_range(returns: FloatArray, scales: npt.NDArray[np.int64]) -> FloatArray:
    """Mean R/S per scale for each row of ``returns`` (rows, n) -> (rows, scales)."""
    out = np.empty((returns.shape[0], scales.size))
    for j, s in enumerate(scales.tolist()):
        k = returns.shape[1] // s
        blocks = returns[:, : k * s].reshape(returns.shape[0], k, s)
        dev = np.cumsum(blocks - blocks.mean(axis=2, keepdims=True), axis=2)
        r = dev.max(axis=2) - dev.min(axis=2)
        sd = blocks.std(axis=2)
        ok = sd > _DEGENERATE
        with np.errstate(divide="ignore", invalid="ignore"):
            total = np.where(ok, r / np.where(ok, sd, 1.0), 0.0).sum(axis=1)
            out[:, j] = np.where(ok.any(axis=1), total / ok.sum(axis=1), np.nan)
    return out


def dfa_fluctuation(returns: FloatArray, scales: npt.NDArray[np.int64]) -> FloatArray:
    """DFA-1 fluctuation F(s) per scale for each row of ``returns`` -> (rows, scales)."""
    profile = np.cumsum(returns - returns.mean(axis=1, keepdims=True), axis=1)
    out = np.empty((returns.shape[0], scales.size))
    for j, s in enumerate(scales.tolist()):
        k = profile.shape[1] // s
        seg = profile[:, : k * s].reshape(profile.shape[0], k, s)
        t = np.arange(s, dtype=np.float64) - (s - 1) / 2.0
        centred = seg - seg.mean(axis=2, keepdims=True)
        slope = (centred @ t) / float(t @ t)
        resid = centred - slope[..., None] * t
        f = np.sqrt((resid**2).mean(axis=(1, 2)))
        out[:, j] = np.where(f > _DEGENERATE, f, np.nan)
    return out


def persistence(
    close: FloatArray, *, n_surrogates: int = 199, rng: np.random.Generator
) -> tuple[Persistence, Persistence]:
    """Hurst R/S and DFA exponents of the log returns, with shuffled-null intervals."""
    if close.size < 3:
        return _NAN_PERSISTENCE, _NAN_PERSISTENCE
    positive = bool((close > 0).all())
    # log of the ratio, not a difference of logs: that rounds at ~1e-16 whatever the price
    # level, where log(price) rounds at ~1e-16 * |log(price)|
    returns = np.log(close[1:] / close[:-1]) if positive else np.diff(close)
    # rounding noise is not a return: snap it to zero, then work in units of the return sd
    tol = FLAT_TOLERANCE if positive else FLAT_TOLERANCE * float(np.abs(close).max())
    returns = np.where(np.abs(returns) < tol, 0.0, returns)
    scales = _scales(returns.size)
    sd = float(returns.std())
    if scales.size < 3 or sd == 0.0:
        return _NAN_PERSISTENCE, _NAN_PERSISTENCE
    returns = returns / sd
    shuffled = rng.permuted(np.tile(returns, (n_surrogates, 1)), axis=1)
    both = np.vstack([returns[None, :], shuffled])
    out = []
    for fn in (rescaled_range, dfa_fluctuation):
        slopes = _slope(scales, fn(both, scales))
        obs, null = float(slopes[0]), slopes[1:][np.isfinite(slopes[1:])]
        if not math.isfinite(obs):
            out.append(_NAN_PERSISTENCE)
            continue
        # shuffles whose blocks are all flat have no exponent and are left out; with fewer
        # than two there is no interval, and with none p = 1 (see surrogate_p_value)
        sd = float(null.std(ddof=1)) if null.size > 1 else math.nan
        mean = float(null.mean()) if null.size else math.nan
        p = (1.0 + float((np.abs(null - mean) >= abs(obs - mean)).sum())) / (null.size + 1.0)
        out.append(Persistence(obs, obs - 1.96 * sd, obs + 1.96 * sd, mean, p))
    return out[0], out[1]

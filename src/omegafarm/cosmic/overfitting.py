"""How much of a parameter search's best result is luck: deflated Sharpe ratio and PBO.

Two published tests, as pure functions over numbers and numpy arrays (no I/O):

- **Deflated Sharpe ratio** (Bailey and López de Prado, 2014, "The Deflated Sharpe Ratio:
  Correcting for Selection Bias, Backtest Overfitting and Non-Normality"). The best of ``N``
  trials has an expected Sharpe ratio above zero even when no trial has an edge::

      SR0 = sqrt(V[SR_n]) * ((1 - g) * Z^-1(1 - 1/N) + g * Z^-1(1 - 1/(N e)))   g = 0.5772...
      DSR = Z((SR - SR0) * sqrt(T - 1) / sqrt(1 - skew * SR + (kurt - 1) / 4 * SR^2))

  with per-observation (not annualised) Sharpe ratios, ``kurt`` the plain (non-excess)
  kurtosis and ``Z`` the standard normal CDF. ``DSR`` is the probability that the true Sharpe
  ratio is above ``SR0``; ``1 - DSR`` is the p-value of "this is more than the luck of the
  best of N".

- **Probability of backtest overfitting** by combinatorially symmetric cross-validation
  (Bailey, Borwein, López de Prado and Zhu, 2015, "The Probability of Backtest Overfitting").
  The returns of ``N`` trials are cut into ``S`` blocks; for each of the ``C(S, S/2)`` ways to
  pick half of the blocks as the training set, the trial best on training is ranked on the
  other half; ``PBO`` is the share of splits where it lands in the bottom half (logit <= 0).

Per-block sufficient statistics (count, sums of r, r², r³, r⁴) make both computable without
keeping every return of every trial: see :func:`block_stats`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()
# Columns of a block-statistics row.
N, S1, S2, S3, S4, DOWN2, LOG_GROWTH, MAX_DD = range(8)
STAT_WIDTH = 8


def block_stats(returns: F64, edges: list[int]) -> F64:
    """Sufficient statistics of ``returns[edges[k]:edges[k+1]]`` for each block ``k``.

    Row: count, Σr, Σr², Σr³, Σr⁴, Σmin(r,0)², Σlog(1+r), max drawdown inside the block.
    """
    out = np.zeros((len(edges) - 1, STAT_WIDTH))
    for k, (a, b) in enumerate(itertools.pairwise(edges)):
        r = returns[a:b]
        if r.size == 0:
            continue
        growth = np.cumprod(1.0 + r)
        peak = np.maximum.accumulate(np.concatenate(([1.0], growth)))[1:]
        out[k] = (
            r.size,
            r.sum(),
            (r**2).sum(),
            (r**3).sum(),
            (r**4).sum(),
            (np.minimum(r, 0.0) ** 2).sum(),
            float(np.log1p(np.maximum(r, -0.999999)).sum()),
            float(np.max(1.0 - growth / peak)),
        )
    return out


def sharpe_of(stats: F64) -> F64:
    """Per-observation Sharpe ratio of the union of blocks (``stats[..., blocks, 8]`` summed
    over the block axis, which must be the second to last). Zero when there is no variance."""
    total = stats.sum(axis=-2)
    n = np.maximum(total[..., N], 1.0)
    mean = total[..., S1] / n
    var = np.maximum(total[..., S2] / n - mean**2, 0.0)
    sd = np.sqrt(var)
    return np.where(sd > 1e-15, mean / np.where(sd > 1e-15, sd, 1.0), 0.0)


@dataclass(frozen=True)
class Moments:
    """Per-observation mean, Sharpe ratio, skewness and (plain) kurtosis of a return series."""

    count: int
    mean: float
    sharpe: float
    skew: float
    kurtosis: float


def moments(stats: F64) -> Moments:
    """Moments of the union of the blocks in ``stats`` (shape ``[blocks, 8]``)."""
    t = stats.sum(axis=0)
    n = max(float(t[N]), 1.0)
    m = t[S1] / n
    e2, e3, e4 = t[S2] / n, t[S3] / n, t[S4] / n
    m2 = max(e2 - m * m, 0.0)
    m3 = e3 - 3 * m * e2 + 2 * m**3
    m4 = e4 - 4 * m * e3 + 6 * m * m * e2 - 3 * m**4
    if m2 <= 1e-30:
        return Moments(int(n), float(m), 0.0, 0.0, 3.0)
    return Moments(int(n), float(m), m / math.sqrt(m2), m3 / m2**1.5, m4 / m2**2)


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """``SR0``: the Sharpe ratio the best of ``n_trials`` reaches by luck alone."""
    if n_trials < 2 or sharpe_variance <= 0:
        return 0.0
    a = _NORMAL.inv_cdf(1.0 - 1.0 / n_trials)
    b = _NORMAL.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    return math.sqrt(sharpe_variance) * ((1 - EULER_GAMMA) * a + EULER_GAMMA * b)


def probabilistic_sharpe(
    sharpe: float, benchmark: float, count: int, skew: float, kurtosis: float
) -> float:
    """P(true Sharpe > ``benchmark``) given ``count`` observations with this skew/kurtosis."""
    if count < 2:
        return 0.5
    den = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if den <= 0:
        return 0.5
    return _NORMAL.cdf((sharpe - benchmark) * math.sqrt(count - 1) / math.sqrt(den))


@dataclass(frozen=True)
class DeflatedSharpe:
    """The deflated Sharpe ratio of the best trial and the numbers it came from."""

    sharpe: float  # per observation
    benchmark: float  # SR0, per observation
    count: int
    skew: float
    kurtosis: float
    n_trials: int
    sharpe_variance: float
    dsr: float

    @property
    def p_value(self) -> float:
        """Chance of a Sharpe ratio this high from the best of N trials with no edge."""
        return 1.0 - self.dsr


def deflated_sharpe(
    sharpe: float,
    count: int,
    skew: float,
    kurtosis: float,
    n_trials: int,
    sharpe_variance: float,
) -> DeflatedSharpe:
    """DSR of a per-observation Sharpe ratio measured on ``count`` returns, chosen as the best
    of ``n_trials`` whose per-observation Sharpe ratios have variance ``sharpe_variance``."""
    sr0 = expected_max_sharpe(n_trials, sharpe_variance)
    dsr = probabilistic_sharpe(sharpe, sr0, count, skew, kurtosis)
    return DeflatedSharpe(sharpe, sr0, count, skew, kurtosis, n_trials, sharpe_variance, dsr)


@dataclass(frozen=True)
class Pbo:
    """Probability of backtest overfitting and its ingredients."""

    pbo: float
    logits: F64
    combinations: int
    blocks: int
    trials: int


def pbo_from_blocks(stats: F64) -> Pbo:
    """PBO by CSCV from per-block statistics ``stats[blocks, trials, 8]`` (Sharpe ranks)."""
    s_blocks, n_trials = stats.shape[0], stats.shape[1]
    if s_blocks < 2 or s_blocks % 2 or n_trials < 2:
        return Pbo(float("nan"), np.empty(0), 0, s_blocks, n_trials)
    logits = []
    for train in itertools.combinations(range(s_blocks), s_blocks // 2):
        test = [b for b in range(s_blocks) if b not in train]
        in_sample = sharpe_of(np.moveaxis(stats[list(train)], 0, 1))
        out_sample = sharpe_of(np.moveaxis(stats[test], 0, 1))
        best = int(np.argmax(in_sample))
        # Relative rank in 1..N of the chosen trial out of sample (ties share the mean rank).
        below = float(np.sum(out_sample < out_sample[best]))
        ties = float(np.sum(out_sample == out_sample[best]))
        rank = below + (ties + 1.0) / 2.0
        omega = rank / (n_trials + 1.0)
        logits.append(math.log(omega / (1.0 - omega)))
    arr = np.asarray(logits)
    return Pbo(float(np.mean(arr <= 0.0)), arr, arr.size, s_blocks, n_trials)


def pbo(returns: F64, blocks: int = 16) -> Pbo:
    """PBO of a ``[observations, trials]`` return matrix cut into ``blocks`` equal blocks."""
    edges = [round(k * returns.shape[0] / blocks) for k in range(blocks + 1)]
    stats = np.stack([block_stats(returns[:, j], edges) for j in range(returns.shape[1])], 1)
    return pbo_from_blocks(stats)

"""One trial = one backtest over the whole range, summarised per block for the report.

The evaluator loads the candles once per process and runs the same :class:`Backtest` (strategy,
trader, paper matching engine, fees) as ``omega backtest`` for each parameter set. A trial
keeps, besides its headline metrics, the sufficient statistics of its per-bar returns in the
walk-forward segments and in the CSCV blocks (:func:`omegafarm.cosmic.overfitting.block_stats`):
a few hundred numbers that travel with the trial through the shared study, so any process can
write the report without re-running the trials.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from omegafarm.bots.backtest import Backtest, BacktestConfig, load_source
from omegafarm.bots.performance import F64, bars_per_year
from omegafarm.bots.strategy import ParamValue
from omegafarm.core.errors import ValidationError
from omegafarm.cosmic.overfitting import DOWN2, LOG_GROWTH, MAX_DD, S1, N, block_stats, sharpe_of

Objective = Literal["sharpe", "sortino", "return", "calmar"]
OBJECTIVES: tuple[Objective, ...] = ("sharpe", "sortino", "return", "calmar")


@dataclass(frozen=True)
class TrialOutcome:
    """What one parameter set scored, and its per-segment / per-block return statistics."""

    values: list[float]
    metrics: dict[str, Any]
    segments: list[list[float]]
    blocks: list[list[float]]


def edges(n: int, parts: int) -> list[int]:
    """Boundaries of ``parts`` near-equal slices of ``n`` observations."""
    return [round(k * n / parts) for k in range(parts + 1)]


def score(stats: F64, objective: Objective, per_year: float) -> float:
    """The objective over the union of the blocks in ``stats`` (``[blocks, 8]``).

    Sharpe and Sortino are annualised; return is compounded; Calmar is the annualised return
    over the larger of the worst in-block drawdown and the drawdown between block ends.
    """
    total = stats.sum(axis=0)
    n = max(float(total[N]), 1.0)
    if objective == "sharpe":
        return float(sharpe_of(stats)) * math.sqrt(per_year)
    if objective == "sortino":
        down = math.sqrt(total[DOWN2] / n)
        return total[S1] / n / down * math.sqrt(per_year) if down > 1e-15 else 0.0
    growth = float(np.exp(np.clip(total[LOG_GROWTH], -700, 700)))
    if objective == "return":
        return growth - 1.0
    ends = np.exp(np.cumsum(stats[:, LOG_GROWTH]))
    peak = np.maximum.accumulate(np.concatenate(([1.0], ends)))[1:]
    drawdown = max(float(np.max(stats[:, MAX_DD])), float(np.max(1.0 - ends / peak)))
    yearly = growth ** (per_year / n) - 1.0 if growth > 0 else -1.0
    return yearly / drawdown if drawdown > 1e-12 else 0.0


class Evaluator:
    """Backtests parameter sets on candles loaded once per process."""

    def __init__(self, base: BacktestConfig, *, folds: int, blocks: int) -> None:
        if folds < 1:
            raise ValidationError("--folds must be at least 1")
        if blocks < 2 or blocks % 2:
            raise ValidationError("--blocks must be an even number >= 2")
        self.base = base
        self.folds = folds
        self.blocks = blocks
        self.source, check = load_source(base.data, base.symbol, base.timeframe)
        self.warnings = list(check.warnings)
        probe = Backtest(base, self.source)  # checks the range once; its exchange is dropped
        self.n_bars = probe.i1 - probe.i0
        self.capital = float(probe.capital)  # resolved once: '20ETH' at the first open
        self.symbol = probe.symbol
        self.timeframe = self.source.timeframe
        self.ts_ms = probe.candles.ts[probe.i0 : probe.i1].astype(np.int64)
        self.per_year = bars_per_year(probe.tf_ms)
        if self.n_bars < 4 * max(folds + 1, blocks):
            raise ValidationError(
                f"{self.n_bars} candles are too few for {folds} folds and {blocks} blocks"
            )
        self.segment_edges = edges(self.n_bars, folds + 1)
        self.block_edges = edges(self.n_bars, blocks)
        self._returns: dict[tuple[tuple[str, ParamValue], ...], F64] = {}

    def returns(self, params: dict[str, ParamValue]) -> tuple[F64, dict[str, Any]]:
        """Per-bar returns of one parameter set over the range, and its headline metrics."""
        config = replace(self.base, params={**self.base.params, **params})
        result = Backtest(config, self.source).run()
        curve = np.concatenate(([float(result.capital)], result.equity))
        returns = np.diff(curve) / curve[:-1]
        metrics: dict[str, Any] = {**result.performance.as_dict(), "halted": result.halted}
        self._returns[tuple(sorted(params.items()))] = returns
        return returns, metrics

    def cached_returns(self, params: dict[str, ParamValue]) -> F64:
        """Returns of ``params``, backtested at most once per process."""
        found = self._returns.get(tuple(sorted(params.items())))
        return found if found is not None else self.returns(params)[0]

    def evaluate(self, params: dict[str, ParamValue], objectives: list[Objective]) -> TrialOutcome:
        """Backtest ``params``; the objectives over the whole range plus the block statistics."""
        returns, metrics = self.returns(params)
        self._returns.clear()  # trials are many and distinct: keep memory flat
        whole = block_stats(returns, [0, returns.size])
        values = [score(whole, o, self.per_year) for o in objectives]
        return TrialOutcome(
            values=[v if math.isfinite(v) else 0.0 for v in values],
            metrics=metrics,
            segments=block_stats(returns, self.segment_edges).tolist(),
            blocks=block_stats(returns, self.block_edges).tolist(),
        )

"""Parameter search that reports how much of its best result is luck (``omega optimize``).

A study lives in Optuna's journal storage on the farm's Redis, so processes on several
machines can add trials to it; each trial is one backtest with the same strategy code, fills
and fees as ``omega backtest``. The report adds walk-forward out-of-sample results, the
probability of backtest overfitting and the deflated Sharpe ratio (see docs/optimize.md).

Optuna is imported inside the functions that need it: importing this package is cheap.
"""

from omegafarm.bots.optimize.evaluate import OBJECTIVES, Evaluator, Objective, TrialOutcome
from omegafarm.bots.optimize.report import build_report
from omegafarm.bots.optimize.search import (
    SAMPLERS,
    OptimizeConfig,
    Sampler,
    SearchSummary,
    TrialEvent,
    counted,
    open_study,
    run_search,
    wait_settled,
)
from omegafarm.bots.optimize.space import Dimension, parse_space

__all__ = [
    "OBJECTIVES",
    "SAMPLERS",
    "Dimension",
    "Evaluator",
    "Objective",
    "OptimizeConfig",
    "Sampler",
    "SearchSummary",
    "TrialEvent",
    "TrialOutcome",
    "build_report",
    "counted",
    "open_study",
    "parse_space",
    "run_search",
    "wait_settled",
]

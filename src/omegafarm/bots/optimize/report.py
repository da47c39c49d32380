"""The honest report of a study: walk-forward, PBO, deflated Sharpe, verdict, importance, map.

Everything is computed from the trials stored in the study (their per-segment and per-block
return statistics), plus at most one backtest per walk-forward fold to draw the out-of-sample
equity curve. See docs/optimize.md for what each number means to a trader.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from omegafarm.bots.optimize.evaluate import Evaluator, Objective, score
from omegafarm.bots.optimize.search import OptimizeConfig
from omegafarm.bots.performance import max_drawdown
from omegafarm.cosmic.overfitting import deflated_sharpe, moments, pbo_from_blocks, sharpe_of

if TYPE_CHECKING:
    from optuna import Study
    from optuna.trial import FrozenTrial

P_VALUE_MAX = 0.05
PBO_MAX = 0.5
CURVE_POINTS = 2_000
HEAT_BINS = 12


def build_report(config: OptimizeConfig, study: Study, evaluator: Evaluator) -> dict[str, Any]:
    """The whole report as a JSON-friendly dict."""
    from optuna.trial import TrialState

    all_trials = study.get_trials(deepcopy=False)
    trials = [t for t in all_trials if t.state == TrialState.COMPLETE and "blocks" in t.user_attrs]
    objective = config.objectives[0]
    report: dict[str, Any] = {
        "study": config.study,
        "strategy": config.base.strategy.name,
        "symbol": evaluator.symbol,
        "timeframe": evaluator.timeframe,
        "bars": evaluator.n_bars,
        "objective": objective,
        "objectives": list(config.objectives),
        "trials": {
            "complete": len(trials),
            "rejected": sum(t.state == TrialState.PRUNED for t in all_trials),
            "failed": sum(
                t.state == TrialState.FAIL and not t.user_attrs.get("surplus") for t in all_trials
            ),
        },
    }
    if len(trials) < 2:
        report["verdict"] = {
            "edge": False,
            "text": f"no evidence of an edge: {len(trials)} completed trial(s), at least 2 needed",
        }
        return report
    values = np.array([t.values[0] for t in trials])
    best = trials[int(np.argmax(values))]
    report["best"] = {
        "trial": best.number,
        "params": dict(best.params),
        "value": float(best.values[0]),
        "metrics": best.user_attrs.get("metrics", {}),
    }
    blocks = np.array([t.user_attrs["blocks"] for t in trials])  # [trials, blocks, 8]
    report["walk_forward"] = _walk_forward(config, trials, evaluator, objective)
    found = pbo_from_blocks(np.moveaxis(blocks, 0, 1))
    report["pbo"] = {
        "value": found.pbo,
        "combinations": found.combinations,
        "blocks": found.blocks,
        "logit_median": float(np.median(found.logits)) if found.logits.size else None,
    }
    report["deflated_sharpe"] = _deflated(blocks, trials.index(best), evaluator.per_year)
    report["verdict"] = _verdict(report, len(trials))
    report["importance"] = _importance(study)
    report["heatmap"] = _heatmap(config, trials, values, report["importance"])
    return report


def _walk_forward(
    config: OptimizeConfig, trials: list[FrozenTrial], evaluator: Evaluator, objective: Objective
) -> dict[str, Any]:
    segments = np.array([t.user_attrs["segments"] for t in trials])  # [trials, folds+1, 8]
    edges, ts = evaluator.segment_edges, evaluator.ts_ms
    folds, pieces = [], []
    for k in range(1, config.folds + 1):
        train = list(range(k)) if config.anchored else [k - 1]
        in_sample = [
            score(segments[j, train], objective, evaluator.per_year) for j in range(len(trials))
        ]
        chosen = trials[int(np.argmax(in_sample))]
        test = segments[trials.index(chosen), [k]]
        returns = evaluator.cached_returns(dict(chosen.params))[edges[k] : edges[k + 1]]
        pieces.append(returns)
        folds.append({
            "train_from_ms": int(ts[edges[train[0]]]),
            "test_from_ms": int(ts[edges[k]]),
            "test_to_ms": int(ts[edges[k + 1] - 1]),
            "params": dict(chosen.params),
            "train_score": float(max(in_sample)),
            "test_score": score(test, objective, evaluator.per_year),
            "test_sharpe": score(test, "sharpe", evaluator.per_year),
            "test_return": score(test, "return", evaluator.per_year),
        })  # fmt: skip
    oos = np.concatenate(pieces)
    capital = evaluator.capital
    equity = capital * np.cumprod(1.0 + oos)
    oos_ts = ts[edges[1] : edges[-1]]
    step = max(1, equity.size // CURVE_POINTS)
    sd = float(np.std(oos))
    return {
        "mode": "anchored" if config.anchored else "rolling",
        "folds": folds,
        "oos": {
            "bars": int(oos.size),
            "return": float(equity[-1] / capital - 1.0),
            "sharpe": float(np.mean(oos)) / sd * math.sqrt(evaluator.per_year) if sd > 0 else 0.0,
            "max_drawdown": max_drawdown(np.concatenate(([capital], equity))),
        },
        "equity": [[int(t), float(e)] for t, e in zip(oos_ts[::step], equity[::step], strict=True)],
    }


def _deflated(blocks: np.ndarray, best: int, per_year: float) -> dict[str, Any]:
    """DSR of the best trial. ``V[SR_n]`` is the variance of a Sharpe estimate under the null
    (every true Sharpe zero): ``1 / (T - 1)``. The spread of the trials' own Sharpe ratios is
    reported but not used: it is inflated by parameters that are really different (the
    mirror-phase settings of a real edge lose as much as the right ones win) and it collapses
    when an adaptive sampler (TPE) crowds its trials round one spot, which would make the
    test lenient exactly when the search tried hardest."""
    sharpes = sharpe_of(blocks)  # per-bar Sharpe of each trial over the whole range
    m = moments(blocks[best])
    null_variance = 1.0 / max(m.count - 1, 1)
    dsr = deflated_sharpe(m.sharpe, m.count, m.skew, m.kurtosis, len(sharpes), null_variance)
    scale = math.sqrt(per_year)
    return {
        "sharpe": dsr.sharpe * scale,
        "expected_max_sharpe": dsr.benchmark * scale,
        "observations": dsr.count,
        "skew": dsr.skew,
        "kurtosis": dsr.kurtosis,
        "trials": dsr.n_trials,
        "sharpe_std_under_null": math.sqrt(null_variance) * scale,
        "sharpe_std_across_trials": float(np.std(sharpes)) * scale,
        "dsr": dsr.dsr,
        "p_value": dsr.p_value,
    }


def _verdict(report: dict[str, Any], n: int) -> dict[str, Any]:
    p = report["deflated_sharpe"]["p_value"]
    pbo = report["pbo"]["value"]
    oos = report["walk_forward"]["oos"]
    edge = p < P_VALUE_MAX and pbo < PBO_MAX
    numbers = (
        f"deflated Sharpe p = {p:.3g} ({'<' if p < P_VALUE_MAX else '>='} {P_VALUE_MAX}), "
        f"PBO = {pbo:.2f} ({'<' if pbo < PBO_MAX else '>='} {PBO_MAX}), "
        f"walk-forward out-of-sample return {oos['return']:+.2%}, Sharpe {oos['sharpe']:.2f}"
    )
    head = "evidence of an edge" if edge else "no evidence of an edge"
    return {"edge": edge, "text": f"{head} after accounting for {n} trials: {numbers}"}


def _importance(study: Study) -> dict[str, float]:
    import warnings

    import optuna

    try:
        with warnings.catch_warnings():  # Optuna warns on flat objectives; the table says it
            warnings.simplefilter("ignore")
            found = optuna.importance.get_param_importances(
                study,
                # PED-ANOVA (no scikit-learn needed) ranks for *low* targets: negate.
                evaluator=optuna.importance.PedAnovaImportanceEvaluator(),
                target=lambda t: -t.values[0],
                normalize=True,
            )
    except (RuntimeError, ValueError, ZeroDivisionError):  # too few or constant trials
        return {}
    return {k: float(v) for k, v in found.items()}


def _heatmap(
    config: OptimizeConfig,
    trials: list[FrozenTrial],
    values: np.ndarray,
    importance: dict[str, float],
) -> dict[str, Any] | None:
    numeric = [d.name for d in config.space if d.numeric]
    numeric.sort(key=lambda name: -importance.get(name, 0.0))
    if len(numeric) < 2:
        return None
    x_name, y_name = numeric[:2]
    xs = np.array([float(t.params[x_name]) for t in trials])
    ys = np.array([float(t.params[y_name]) for t in trials])
    x_edges = _bin_edges(xs)
    y_edges = _bin_edges(ys)
    z: list[list[float | None]] = [[None] * (len(x_edges) - 1) for _ in range(len(y_edges) - 1)]
    xi = np.clip(np.searchsorted(x_edges, xs, side="right") - 1, 0, len(x_edges) - 2)
    yi = np.clip(np.searchsorted(y_edges, ys, side="right") - 1, 0, len(y_edges) - 2)
    for a, b, v in zip(xi, yi, values, strict=True):
        cell = z[b][a]
        z[b][a] = float(v) if cell is None else max(cell, float(v))
    return {"x": x_name, "y": y_name, "x_edges": x_edges.tolist(), "y_edges": y_edges.tolist(),
            "z": z, "cell": "best objective of the trials in the cell"}  # fmt: skip


def _bin_edges(values: np.ndarray) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return np.array([lo - 0.5, hi + 0.5])
    return np.linspace(lo, hi, HEAT_BINS + 1)

"""The search loop: ask Optuna for parameters, backtest them, tell the result, until the study
holds the wanted number of trials — from one process or from many joined on one study.

Why ask/tell and not ``study.optimize``: several processes share one trial budget. After each
``ask`` a process lists the study's live trials (running or finished) in journal order; if its
new trial is beyond the budget it withdraws it (state FAIL, attribute ``surplus``) and stops.
The journal orders trials totally, so two processes racing for the last slot agree on which
one got it, and a study ends with exactly the budget of counted trials.

Ctrl-C (``KeyboardInterrupt``) during a trial marks that trial FAIL and returns: completed
trials stay in the study, and running the same command with ``--join`` resumes it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from omegafarm.bots.backtest import BacktestConfig
from omegafarm.bots.optimize.evaluate import Evaluator, Objective
from omegafarm.bots.optimize.space import Dimension
from omegafarm.bots.strategy import ParamValue
from omegafarm.core.errors import OmegaError, ValidationError
from omegafarm.store.keys import Keys

if TYPE_CHECKING:
    from optuna import Study
    from optuna.samplers import BaseSampler
    from optuna.storages import BaseStorage
    from optuna.trial import Trial

Sampler = Literal["tpe", "random", "nsga"]
SAMPLERS: tuple[Sampler, ...] = ("tpe", "random", "nsga")


@dataclass(frozen=True)
class OptimizeConfig:
    """One optimisation: the backtest to vary, the space, the objective(s) and the budget."""

    base: BacktestConfig
    space: list[Dimension]
    study: str
    trials: int = 100
    objectives: list[Objective] = field(default_factory=lambda: ["sharpe"])
    folds: int = 5
    anchored: bool = True
    blocks: int = 16
    sampler: Sampler | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        Keys().optuna_study(self.study)  # a bad name fails here, before Redis is reached
        if self.trials < 1:
            raise ValidationError(f"--trials {self.trials}: need at least 1")
        if not self.objectives:
            raise ValidationError("give at least one --objective")

    def describe(self) -> dict[str, Any]:
        """What a joining process must agree on (stored with the study)."""
        return {
            "strategy": self.base.strategy.name,
            "space": " ".join(_dim_text(d) for d in self.space),
            "objectives": list(self.objectives),
            "folds": self.folds,
            "blocks": self.blocks,
        }


def _dim_text(d: Dimension) -> str:
    if d.kind == "choice":
        return f"{d.name}={','.join(str(c) for c in d.choices)}"
    lo, hi = (int(d.low), int(d.high)) if d.kind == "int" else (d.low, d.high)
    return f"{d.name}={lo}..{hi}" + (f":{d.step}" if d.step else "")


@dataclass(frozen=True)
class TrialEvent:
    """Progress after one trial of this process."""

    done: int  # counted trials in the study
    total: int
    number: int
    values: list[float] | None
    best_value: float | None
    best_params: dict[str, Any] | None


@dataclass(frozen=True)
class SearchSummary:
    """What this process did."""

    ran: int
    interrupted: bool
    elapsed_s: float


def make_sampler(name: Sampler | None, n_objectives: int, seed: int | None) -> BaseSampler:
    """TPE by default, NSGA-II when there are several objectives."""
    import optuna

    chosen = name or ("nsga" if n_objectives > 1 else "tpe")
    if chosen == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if chosen == "nsga":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if n_objectives > 1:
        raise ValidationError("several objectives need --sampler nsga or random")
    # constant_liar: trials other processes are running count as bad guesses, so joined
    # processes do not all pile onto the same spot. Both options are marked experimental.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)


def open_study(config: OptimizeConfig, storage: BaseStorage, *, join: bool) -> Study:
    """Create the study, or (with ``join``) open it and check it is the same search."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = make_sampler(config.sampler, len(config.objectives), config.seed)
    names = {s.study_name for s in storage.get_all_studies()}
    if config.study in names and not join:
        raise ValidationError(
            f"study {config.study!r} already exists: add --join to add trials or resume it, "
            "or choose another --study"
        )
    study = optuna.create_study(
        study_name=config.study,
        storage=storage,
        sampler=sampler,
        directions=["maximize"] * len(config.objectives),
        load_if_exists=True,
    )
    wanted = config.describe()
    found = study.user_attrs.get("config")
    if found is None:
        study.set_user_attr("config", wanted)
    elif found != wanted:
        diff = {k: found.get(k) for k in wanted if found.get(k) != wanted[k]}
        raise ValidationError(f"study {config.study!r} was created with other settings: {diff}")
    return study


def counted(study: Study) -> list[Any]:
    """Trials that count toward the budget: running or finished, not withdrawn/failed."""
    from optuna.trial import TrialState

    live = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    return sorted(study.get_trials(deepcopy=False, states=live), key=lambda t: t.number)


def run_search(
    config: OptimizeConfig,
    study: Study,
    evaluator: Evaluator,
    on_trial: Callable[[TrialEvent], None] | None = None,
) -> SearchSummary:
    """Run trials in this process until the study holds ``config.trials`` counted trials."""
    from optuna.trial import TrialState

    started = time.perf_counter()
    ran = 0
    trial = None
    worker = f"{socket.gethostname()}-{os.getpid()}"
    try:
        while len(counted(study)) < config.trials:
            trial, interrupted = _ask(study)
            if interrupted:  # Ctrl-C while the storage made it: it is ours to fail below
                raise KeyboardInterrupt
            slots = [t.number for t in counted(study)]
            if trial.number not in slots[: config.trials]:
                trial.set_user_attr("surplus", True)
                study.tell(trial, state=TrialState.FAIL)
                break
            trial.set_user_attr("worker", worker)
            params = {d.name: d.suggest(trial) for d in config.space}
            values = _evaluate(study, trial, evaluator, params, config.objectives)
            number, trial = trial.number, None
            ran += 1
            if on_trial is not None:
                on_trial(_event(study, config, number, values))
    except KeyboardInterrupt:
        if trial is not None:
            with contextlib.suppress(Exception):  # it may have been told already
                study.tell(trial, state=TrialState.FAIL)
        return SearchSummary(ran, True, time.perf_counter() - started)
    return SearchSummary(ran, False, time.perf_counter() - started)


def _ask(study: Study) -> tuple[Trial, bool]:
    """``study.ask()`` with Ctrl-C held back until the new trial is known here: one that came
    while the storage was creating it left that trial RUNNING for ever (nobody held it to fail
    it). True when Ctrl-C came meanwhile (the caller fails the trial and stops)."""
    if threading.current_thread() is not threading.main_thread():
        return study.ask(), False
    came: list[int] = []
    previous = signal.getsignal(signal.SIGINT)
    if previous in (signal.SIG_IGN, None):  # Ctrl-C ignored (or not ours to handle)
        return study.ask(), False
    signal.signal(signal.SIGINT, lambda signum, _frame: came.append(signum))
    try:
        trial = study.ask()
    finally:
        signal.signal(signal.SIGINT, previous)
    return trial, bool(came)


def _evaluate(
    study: Study,
    trial: Trial,
    evaluator: Evaluator,
    params: dict[str, ParamValue],
    objectives: list[Objective],
) -> list[float] | None:
    """Backtest one trial and tell the study; None when the strategy rejects the params."""
    from optuna.trial import TrialState

    try:
        outcome = evaluator.evaluate(params, objectives)
    except OmegaError as exc:  # the strategy rejects this combination (e.g. fast >= slow)
        trial.set_user_attr("rejected", str(exc))
        study.tell(trial, state=TrialState.PRUNED)
        return None
    trial.set_user_attr("metrics", outcome.metrics)
    trial.set_user_attr("segments", outcome.segments)
    trial.set_user_attr("blocks", outcome.blocks)
    study.tell(trial, outcome.values)
    return outcome.values


def _event(
    study: Study, config: OptimizeConfig, number: int, values: list[float] | None
) -> TrialEvent:
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    complete = [t for t in done if t.state == TrialState.COMPLETE and t.values]
    best = max(complete, key=lambda t: t.values[0], default=None)
    return TrialEvent(
        done=len(done),
        total=config.trials,
        number=number,
        values=values,
        best_value=None if best is None else best.values[0],
        best_params=None if best is None else dict(best.params),
    )


def wait_settled(study: Study, timeout_s: float | None = None, poll_s: float = 0.2) -> bool:
    """Wait until no trial of the study is running (other processes finish their last one),
    so every joined process reports on the same trials. False on timeout.

    The default timeout is five times the longest finished trial plus 30 s (at most 10 min):
    a trial left running by a killed process must not hold every later report for long.
    """
    from optuna.trial import TrialState

    if timeout_s is None:
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        spans = [
            (t.datetime_complete - t.datetime_start).total_seconds()
            for t in done
            if t.datetime_complete is not None and t.datetime_start is not None
        ]
        timeout_s = min(600.0, 5 * max(spans, default=6.0) + 30.0)
    deadline = time.monotonic() + timeout_s
    while study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if time.monotonic() > deadline:
            return False
        time.sleep(poll_s)  # the journal has no change notification to block on
    return True

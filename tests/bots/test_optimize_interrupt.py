"""Ctrl-C while Optuna's storage creates a trial leaves no trial RUNNING for ever."""

from __future__ import annotations

import os
import signal
from typing import Any

import optuna
from optuna.trial import TrialState

from omegafarm.bots.optimize.search import _ask


def test_ctrl_c_while_the_storage_makes_a_trial_is_held_until_the_trial_is_known() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    storage_ask = study.ask

    def ask(*args: Any, **kwargs: Any) -> optuna.trial.Trial:
        trial = storage_ask(*args, **kwargs)  # the storage holds it RUNNING now
        os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C before the caller has it
        return trial

    study.ask = ask  # type: ignore[method-assign]
    trial, interrupted = _ask(study)  # without holding Ctrl-C back: KeyboardInterrupt here

    assert interrupted
    assert [t.state for t in study.get_trials()] == [TrialState.RUNNING]
    study.tell(trial, state=TrialState.FAIL)  # what run_trials does with it
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

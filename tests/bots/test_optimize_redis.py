"""``omega optimize`` across processes: one study in Optuna's journal on the real Redis."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from optuna.trial import TrialState

from omegafarm.cli import app
from omegafarm.store import RedisSettings
from omegafarm.store.optuna_journal import journal_storage, study_client
from tests.bots._market import write_market

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]  # subprocesses on a shared machine
SPACE = "fast=2..20 slow=21..80"  # every combination valid: each trial is a real backtest


def _command(data: Path, study: str, trials: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "omegafarm", "--log-level", "warning", "optimize",
        "--strategy", "sma_cross", "--data", str(data), "--space", SPACE,
        "--trials", str(trials), "--folds", "3", "--blocks", "8",
        "--study", study, "--join", *extra,
    ]  # fmt: skip


def _env(redis_url: str, farm: str) -> dict[str, str]:
    return {**os.environ, "OMEGA_REDIS__URL": redis_url, "OMEGA_REDIS__FARM": farm}


def _trials(redis_url: str, farm: str, study: str) -> list[Any]:
    import optuna

    settings = RedisSettings.model_validate({"url": redis_url, "farm": farm})
    with study_client(settings) as client:
        storage = journal_storage(client, farm, study)
        return optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)


def test_three_processes_on_one_study_give_n_distinct_trials_and_one_result(
    redis_url: str, tmp_path: Path
) -> None:
    data = write_market(tmp_path, 1_500, 5, amplitude=0.02, period=100)
    farm, n = "o" + uuid.uuid4().hex[:10], 24
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    command = _command(data, "shared", n, "--json")
    procs = [subprocess.Popen(command, env=_env(redis_url, farm), **pipes) for _ in range(3)]
    outputs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outputs]
    reports = [json.loads(out) for out, _ in outputs]
    trials = _trials(redis_url, farm, "shared")
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == n
    assert len({t.number for t in complete}) == n
    assert all(t.state in (TrialState.COMPLETE, TrialState.FAIL) for t in trials)
    assert all(t.user_attrs.get("surplus") for t in trials if t.state == TrialState.FAIL)
    assert all(t.user_attrs["worker"] for t in complete)
    # Every process waited for the others' last trials: one consistent report.
    for key in ("trials", "best", "pbo", "deflated_sharpe", "verdict", "walk_forward"):
        assert reports[1][key] == reports[0][key] == reports[2][key], key
    assert reports[0]["trials"]["complete"] == n


def test_ctrl_c_keeps_completed_trials_and_the_study_resumes(
    redis_url: str, tmp_path: Path
) -> None:
    data = write_market(tmp_path, 2_000, 6)
    farm = "o" + uuid.uuid4().hex[:10]
    proc = subprocess.Popen(
        _command(data, "resumable", 500), env=_env(redis_url, farm),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    done = 0
    for line in proc.stderr:  # one line per finished trial (stderr is not a terminal)
        done += line.startswith("trial ")
        if done == 3:
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "stopped: completed trials are kept; resume with --study resumable --join" in err
    assert "verdict:" in out
    trials = _trials(redis_url, farm, "resumable")
    kept = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(kept) >= 3
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    target = len(kept) + 2
    resume = [  # a bare --join takes the study's stored options; --trials raises the budget
        sys.executable, "-m", "omegafarm", "--log-level", "warning", "optimize",
        "--study", "resumable", "--join", "--trials", str(target), "--json",
    ]  # fmt: skip
    resumed = subprocess.run(
        resume, env=_env(redis_url, farm),
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["trials"]["complete"] == target
    after = [t for t in _trials(redis_url, farm, "resumable") if t.state == TrialState.COMPLETE]
    assert {t.number for t in kept} < {t.number for t in after}


def test_worker_joins_a_study_and_bad_input_fails_in_one_line(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    data = write_market(tmp_path, 600, 2)
    monkeypatch.setenv("OMEGA_REDIS__URL", redis_url)
    monkeypatch.setenv("OMEGA_REDIS__FARM", "o" + uuid.uuid4().hex[:10])
    args = [a for a in _command(data, "once", 3)[5:] if a != "--join"]  # optimize ...
    first = cli.invoke(app, args)
    assert first.exit_code == 0, first.output
    worker = cli.invoke(app, ["worker", "--optimize", "once"])  # joins: the budget is spent
    assert worker.exit_code == 0, worker.output
    assert "after accounting for 3 trials" in worker.output
    again = cli.invoke(app, args)
    assert again.exit_code == 2
    assert "study 'once' already exists: add --join" in again.output
    bad = cli.invoke(app, [*args, "--objective", "profit"])
    assert bad.exit_code == 2
    assert "--objective 'profit': choose from sharpe, sortino, return, calmar" in bad.output
    named = cli.invoke(app, [*args, "--study", "Bad Name"])
    assert named.exit_code == 2
    assert "study name 'Bad Name' is invalid" in named.output


def test_an_unreachable_redis_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    data = write_market(tmp_path, 600, 3)
    monkeypatch.setenv("OMEGA_REDIS__URL", "redis://127.0.0.1:1")  # nothing listens on port 1
    args = [a for a in _command(data, "nowhere", 3)[5:] if a != "--join"]
    result = cli.invoke(app, args)
    assert result.exit_code == 2
    assert "cannot open study 'nowhere' on Redis" in result.output
    assert "Traceback" not in result.output

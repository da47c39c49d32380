"""``omega optimize``'s search and report on markets with known answers (in-memory studies)."""

from __future__ import annotations

import html
import itertools
import json
from pathlib import Path
from typing import Any

import optuna
import pytest

from omegafarm.bots.backtest import BacktestConfig
from omegafarm.bots.optimize import (
    Evaluator,
    OptimizeConfig,
    build_report,
    open_study,
    parse_space,
    run_search,
)
from omegafarm.bots.optimize.html import write_html
from omegafarm.bots.strategies import SmaCross
from omegafarm.core.errors import ValidationError
from omegafarm.store import Keys
from tests.bots._market import write_market

SPACE = "fast=2..40 slow=5..150"


def _optimize(path: Path, *, trials: int, seed: int, study: str = "s") -> dict[str, Any]:
    base = BacktestConfig(strategy=SmaCross, data=path)
    config = OptimizeConfig(
        base=base, space=parse_space(SPACE), study=study, trials=trials, folds=4, blocks=10,
        seed=seed,
    )  # fmt: skip
    evaluator = Evaluator(base, folds=config.folds, blocks=config.blocks)
    found = open_study(config, optuna.storages.InMemoryStorage(), join=False)
    summary = run_search(config, found, evaluator)
    assert summary.ran == trials and not summary.interrupted
    return build_report(config, found, evaluator)


def test_space_parses_integer_decimal_and_choice_dimensions() -> None:
    fast, stop, mode = parse_space("fast=5..50:5 stop=0.01..0.05 mode=1,2,3")
    assert (fast.kind, fast.low, fast.high, fast.step) == ("int", 5, 50, 5)
    assert (stop.kind, stop.low, stop.high, stop.step) == ("float", 0.01, 0.05, None)
    assert (mode.kind, mode.choices) == ("choice", (1, 2, 3))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("fast=50..5", "need low < high"),
        ("fast=a..5", "is not a number"),
        ("fast", "must look like"),
        ("fast=1..5 fast=2..9", "twice"),
        ("mode=3", "at least two values"),
        ("", "empty"),
    ],
    ids=["reversed", "not-a-number", "no-range", "duplicate", "one-choice", "empty"],
)
def test_bad_space_raises_one_line_naming_the_problem(spec: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_space(spec)


def test_study_keys_live_under_the_farm_and_reject_bad_names() -> None:
    assert Keys("f1").optuna_study("sma-1") == "omega:f1:optuna:sma-1"
    with pytest.raises(ValidationError, match="study name"):
        Keys("f1").optuna_study("Bad Name")


@pytest.mark.slow
def test_random_walks_look_good_in_sample_but_the_report_finds_no_evidence(
    tmp_path: Path,
) -> None:
    seeds = range(20)
    reports = [
        _optimize(write_market(tmp_path / str(s), 1_500, s), trials=15, seed=s) for s in seeds
    ]
    best = sorted(r["best"]["value"] for r in reports)
    assert best[-5] > 2.0  # a quarter of the searches "find" an annualised Sharpe above 2
    no_evidence = [
        r["deflated_sharpe"]["p_value"] > 0.05 or r["pbo"]["value"] >= 0.5 for r in reports
    ]
    assert sum(no_evidence) >= 0.95 * len(reports)
    assert all(r["verdict"]["edge"] is not ok for r, ok in zip(reports, no_evidence, strict=True))
    assert all(
        r["verdict"]["text"].startswith(
            f"no evidence of an edge after accounting for {r['trials']['complete']} trials"
        )
        for r, ok in zip(reports, no_evidence, strict=True)
        if ok
    )


@pytest.mark.slow
@pytest.mark.parametrize("seed", [100, 101, 102])
def test_a_planted_cycle_is_found_and_survives_the_deflation(tmp_path: Path, seed: int) -> None:
    # log-price = random walk + 3 % * sin(2 pi t / 100): an SMA cross can ride the cycle only
    # when its slow average is shorter than half a period (longer ones lag it out of phase).
    path = write_market(tmp_path, 1_500, seed, amplitude=0.03, period=100)
    report = _optimize(path, trials=25, seed=seed)
    assert report["best"]["params"]["slow"] <= 50
    assert report["deflated_sharpe"]["p_value"] < 0.05
    assert report["pbo"]["value"] < 0.5
    assert report["walk_forward"]["oos"]["return"] > 0
    assert report["verdict"]["edge"]
    complete = report["trials"]["complete"]
    assert report["verdict"]["text"].startswith(
        f"evidence of an edge after accounting for {complete}"
    )


def test_report_is_json_and_html_with_walk_forward_importance_and_heat_map(
    tmp_path: Path,
) -> None:
    path = write_market(tmp_path, 1_200, 7, amplitude=0.03, period=100)
    report = _optimize(path, trials=12, seed=7)
    again = json.loads(json.dumps(report))
    folds = again["walk_forward"]["folds"]
    assert len(folds) == 4
    assert [f["test_from_ms"] for f in folds] == sorted(f["test_from_ms"] for f in folds)
    assert all(f["train_from_ms"] == folds[0]["train_from_ms"] for f in folds)  # anchored
    assert again["walk_forward"]["oos"]["bars"] == len(again["walk_forward"]["equity"])
    assert set(again["importance"]) == {"fast", "slow"}
    heat = again["heatmap"]
    assert {heat["x"], heat["y"]} == {"fast", "slow"}
    assert any(v is not None for row in heat["z"] for v in row)
    page = write_html(report, tmp_path / "report.html").read_text()
    assert html.escape(report["verdict"]["text"]) in page
    assert page.count("<svg") == 2


def test_joining_a_study_with_another_space_is_refused(tmp_path: Path) -> None:
    path = write_market(tmp_path, 600, 1)
    base = BacktestConfig(strategy=SmaCross, data=path)
    storage = optuna.storages.InMemoryStorage()
    first = OptimizeConfig(base=base, space=parse_space("fast=2..9 slow=10..40"), study="x")
    open_study(first, storage, join=False)
    with pytest.raises(ValidationError, match="already exists"):
        open_study(first, storage, join=False)
    other = OptimizeConfig(base=base, space=parse_space("fast=2..5 slow=10..40"), study="x")
    with pytest.raises(ValidationError, match="other settings"):
        open_study(other, storage, join=True)


def test_two_objectives_run_nsga_and_the_report_ranks_by_the_first(tmp_path: Path) -> None:
    path = write_market(tmp_path, 800, 4)
    base = BacktestConfig(strategy=SmaCross, data=path)
    config = OptimizeConfig(
        base=base, space=parse_space("fast=2..9 slow=10..40"), study="mo", trials=8, folds=2,
        blocks=4, objectives=["sharpe", "calmar"], seed=1,
    )  # fmt: skip
    evaluator = Evaluator(base, folds=2, blocks=4)
    found = open_study(config, optuna.storages.InMemoryStorage(), join=False)
    assert isinstance(found.sampler, optuna.samplers.NSGAIISampler)
    run_search(config, found, evaluator)
    report = build_report(config, found, evaluator)
    values = [t.values for t in found.trials if t.values]
    assert all(len(v) == 2 for v in values)
    assert report["best"]["value"] == max(v[0] for v in values)
    assert report["objectives"] == ["sharpe", "calmar"]


def test_rolling_walk_forward_trains_on_the_previous_window_only(tmp_path: Path) -> None:
    path = write_market(tmp_path, 900, 8)
    base = BacktestConfig(strategy=SmaCross, data=path)
    config = OptimizeConfig(
        base=base, space=parse_space("fast=2..9 slow=10..40"), study="roll", trials=6, folds=3,
        blocks=4, anchored=False, seed=2,
    )  # fmt: skip
    evaluator = Evaluator(base, folds=3, blocks=4)
    found = open_study(config, optuna.storages.InMemoryStorage(), join=False)
    run_search(config, found, evaluator)
    folds = build_report(config, found, evaluator)["walk_forward"]["folds"]
    first_ms = int(evaluator.ts_ms[0])
    assert folds[0]["train_from_ms"] == first_ms
    for before, after in itertools.pairwise(folds):
        assert after["train_from_ms"] == before["test_from_ms"]

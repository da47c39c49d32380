"""``omega optimize``: an Optuna parameter search on the farm's Redis, with an honest report.

Parses, opens the study, runs the search, renders. Optuna, the search and the report are
imported inside the command so that ``omega --help`` never loads them.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.console import Console
from rich.table import Table

from omegafarm.cli._app import fail, load_settings_or_exit
from omegafarm.cli.backtest import _params, _time_ms
from omegafarm.core.errors import OmegaError

if TYPE_CHECKING:
    from omegafarm.bots.optimize import Objective

console = Console()
err_console = Console(stderr=True)


def _study_name(strategy: str, data: Path) -> str:
    raw = f"{strategy}-{data.stem}".lower()
    return re.sub(r"[^a-z0-9_-]+", "-", raw).strip("-_")[:32] or "study"


DEFAULTS: dict[str, Any] = {
    "trials": 100, "objective": "sharpe", "folds": 5, "rolling": False, "blocks": 16,
    "sampler": None, "symbol": None, "timeframe": None, "from": None, "to": None, "param": [],
    "capital": None, "fee": "0.001", "fill": "spread", "slippage_bps": 0.0,
}  # fmt: skip


def optimize(
    ctx: typer.Context,
    strategy: Annotated[
        str | None, typer.Option(help="Strategy name (sma_cross, ...) or module:Class.")
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="Candle file (CSV/Parquet) or a folder of them.")
    ] = None,
    space: Annotated[
        str | None, typer.Option(help="Search space, e.g. 'fast=5..50 slow=20..200'.")
    ] = None,
    trials: Annotated[
        int | None, typer.Option(min=1, help="Trials in the study, all processes [100].")
    ] = None,
    objective: Annotated[
        str | None,
        typer.Option(help="sharpe [default], sortino, return or calmar; several: 'sharpe,return'."),
    ] = None,
    folds: Annotated[int | None, typer.Option(min=1, help="Walk-forward folds [5].")] = None,
    rolling: Annotated[
        bool | None,
        typer.Option("--rolling/--anchored", help="Train on the previous window only [anchored]."),
    ] = None,
    blocks: Annotated[int | None, typer.Option(help="CSCV blocks for the PBO, even [16].")] = None,
    sampler: Annotated[str | None, typer.Option(help="tpe (default), random or nsga.")] = None,
    seed: Annotated[int | None, typer.Option(help="Sampler seed (one process only).")] = None,
    study: Annotated[
        str | None, typer.Option(help="Study name (default: strategy-datafile).")
    ] = None,
    join: Annotated[
        bool,
        typer.Option(
            "--join",
            help="Add trials to (or resume) an existing study; omitted options come from it.",
        ),
    ] = False,
    symbol: Annotated[str | None, typer.Option(help="Symbol when --data is a folder.")] = None,
    timeframe: Annotated[
        str | None, typer.Option(help="Timeframe when --data is a folder.")
    ] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Start: ms or ISO date.")] = None,
    to: Annotated[str | None, typer.Option(help="End (exclusive): ms or ISO date.")] = None,
    param: Annotated[list[str], typer.Option(help="Fixed strategy parameter name=value.")] = [],  # noqa: B006  # typer needs a literal default
    capital: Annotated[
        str | None,
        typer.Option(help="Starting cash as in `omega backtest` ('1', '1BTC', '20ETH')."),
    ] = None,
    fee: Annotated[str | None, typer.Option(help="Fee rate per side [0.001].")] = None,
    fill: Annotated[
        str | None, typer.Option(help="Taker fills as in `omega backtest`: spread, book, none.")
    ] = None,
    slippage_bps: Annotated[
        float | None, typer.Option(min=0.0, help="Extra cost per taker fill, bps [0].")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    html: Annotated[Path | None, typer.Option(help="Write the report as an HTML page.")] = None,
) -> None:
    """Search strategy parameters with Optuna; report walk-forward, PBO and deflated Sharpe."""
    from omegafarm.store.keys import Keys
    from omegafarm.store.optuna_journal import journal_errors, journal_storage, study_client

    given: dict[str, Any] = {
        "strategy": strategy, "data": None if data is None else str(data.resolve()),
        "space": space, "trials": trials, "objective": objective, "folds": folds,
        "rolling": rolling, "blocks": blocks, "sampler": sampler, "symbol": symbol,
        "timeframe": timeframe, "from": from_, "to": to, "param": param or None,
        "capital": capital, "fee": fee, "fill": fill, "slippage_bps": slippage_bps,
    }  # fmt: skip
    if html is not None and html.suffix.lower() != ".html":
        raise fail(f"--html {html}: the report file must end in .html")
    if study is None and (strategy is None or data is None):
        raise fail("give --strategy, --data and --space (or --study NAME --join)")
    name = study or _study_name(str(strategy), Path(str(data)))
    settings = load_settings_or_exit(ctx)
    try:
        Keys().optuna_study(name)  # a bad name fails before Redis is reached
        with study_client(settings.redis) as client, journal_errors():
            storage = journal_storage(client, settings.redis.farm, name)
            stored = _stored_command(storage, name) if join else {}
            merged = {
                k: v if v is not None else stored.get(k, DEFAULTS.get(k)) for k, v in given.items()
            }
            config, evaluator = _configure(merged, name, seed)
            for warning in evaluator.warnings:
                err_console.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
            found = _open(config, storage, join, merged)
            report = _search_and_report(config, found, evaluator, quiet=as_json)
        if html is not None:
            from omegafarm.bots.optimize.html import write_html

            write_html(report, html)
    except (OmegaError, InvalidOperation, ValueError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        print(json.dumps(report, default=str))
        return
    _render(report, html)


def _stored_command(storage: Any, name: str) -> dict[str, Any]:
    """The options the study was created with (empty for a new study)."""
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return {}
    found = storage.get_study_user_attrs(study_id).get("command")
    return dict(found) if isinstance(found, dict) else {}


def _configure(options: dict[str, Any], name: str, seed: int | None) -> tuple[Any, Any]:
    """The search config and the evaluator (candles loaded) from merged options."""
    from omegafarm.bots.backtest import BacktestConfig
    from omegafarm.bots.optimize import OBJECTIVES, SAMPLERS, Evaluator, OptimizeConfig, parse_space
    from omegafarm.bots.strategies import get_strategy
    from omegafarm.exchange.paper.config import BookSettings

    missing = [f"--{k}" for k in ("strategy", "data", "space") if options[k] is None]
    if missing:
        raise fail(f"give {', '.join(missing)} (study {name!r} has no stored settings)")
    objectives = [o.strip() for o in str(options["objective"]).split(",") if o.strip()]
    if not objectives or any(o not in OBJECTIVES for o in objectives):
        raise fail(f"--objective {options['objective']!r}: choose from {', '.join(OBJECTIVES)}")
    sampler = options["sampler"]
    if sampler is not None and sampler not in SAMPLERS:
        raise fail(f"--sampler {sampler!r}: choose from {', '.join(SAMPLERS)}")
    base = BacktestConfig(
        strategy=get_strategy(options["strategy"]),
        data=Path(options["data"]),
        params=_params(list(options["param"])),
        symbol=options["symbol"],
        timeframe=options["timeframe"],
        from_ms=_time_ms(options["from"], "--from"),
        to_ms=_time_ms(options["to"], "--to"),
        capital=options["capital"],
        taker_fee=Decimal(options["fee"]),
        maker_fee=Decimal(options["fee"]),
        book=BookSettings(fill=options["fill"], slippage_bps=float(options["slippage_bps"])),
    )
    config = OptimizeConfig(
        base=base,
        space=parse_space(options["space"]),
        study=name,
        trials=int(options["trials"]),
        objectives=cast("list[Objective]", objectives),  # checked above
        folds=int(options["folds"]),
        anchored=not options["rolling"],
        blocks=int(options["blocks"]),
        sampler=sampler,  # checked against SAMPLERS above
        seed=seed,
    )
    return config, Evaluator(base, folds=config.folds, blocks=config.blocks)


def _open(config: Any, storage: Any, join: bool, options: dict[str, Any]) -> Any:
    """Open (or create) the study; a new one keeps its options for later ``--join``."""
    from omegafarm.bots.optimize import open_study

    found = open_study(config, storage, join=join)
    if "command" not in found.user_attrs:
        found.set_user_attr("command", options)
    return found


def _search_and_report(config: Any, study: Any, evaluator: Any, *, quiet: bool) -> dict[str, Any]:
    from omegafarm.bots.optimize import build_report, run_search, wait_settled

    err_console.print(
        f"study {config.study!r}: {config.trials} trials; add processes with "
        f"`omega optimize --study {config.study} --join`",
        highlight=False,
    )
    if err_console.is_terminal and not quiet:
        with _progress() as bar:
            task = bar.add_task("optimize", total=config.trials, best="")

            def show(ev: Any) -> None:
                best = "" if ev.best_value is None else f"{ev.best_value:.4g} {ev.best_params}"
                bar.update(task, completed=ev.done, best=best)

            summary = run_search(config, study, evaluator, show)
    else:
        summary = run_search(config, study, evaluator, _log_line)
    if summary.interrupted:
        err_console.print(
            f"stopped: completed trials are kept; resume with --study {config.study} --join",
            highlight=False,
        )
    elif not wait_settled(study):
        err_console.print("other processes still run trials; reporting on what is done")
    return build_report(config, study, evaluator)


def _log_line(ev: Any) -> None:
    value = "rejected" if ev.values is None else f"{ev.values[0]:.4g}"
    best = "" if ev.best_value is None else f" best={ev.best_value:.4g} {ev.best_params}"
    err_console.print(
        f"trial {ev.number} done ({ev.done}/{ev.total}): {value}{best}", highlight=False
    )


def _progress() -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(), TextColumn("best {task.fields[best]}"),
        console=err_console, transient=True,
    )  # fmt: skip


def _render(report: dict[str, Any], html: Path | None) -> None:
    obj = report["objective"]
    console.print(
        f"[bold]{report['strategy']}[/] on {report['symbol']} {report['timeframe']}, "
        f"{report['bars']:,} bars, study {report['study']}: "
        + ", ".join(f"{v} {k}" for k, v in report["trials"].items()),
        highlight=False,
    )
    if "best" in report:
        best = report["best"]
        console.print(
            f"best in-sample {obj}: {best['value']:.4g} with {best['params']} "
            f"(trial {best['trial']})",
            highlight=False,
        )
        wf = report["walk_forward"]
        table = Table(title=f"walk-forward ({wf['mode']}): chosen on training, scored after")
        for head in ("test from", "params", f"train {obj}", f"test {obj}", "test return"):
            table.add_column(head, justify="right")
        for f in wf["folds"]:
            table.add_row(
                _day(f["test_from_ms"]), str(f["params"]), f"{f['train_score']:.4g}",
                f"{f['test_score']:.4g}", f"{f['test_return']:+.2%}",
            )  # fmt: skip
        console.print(table)
        oos = wf["oos"]
        console.print(
            f"out-of-sample: return {oos['return']:+.2%}, Sharpe {oos['sharpe']:.2f}, "
            f"max drawdown {oos['max_drawdown']:.2%} over {oos['bars']:,} bars",
            highlight=False,
        )
        d, p = report["deflated_sharpe"], report["pbo"]
        console.print(
            f"deflated Sharpe: Sharpe {d['sharpe']:.3g} vs {d['expected_max_sharpe']:.3g} "
            f"expected from the best of {d['trials']} trials by luck -> DSR {d['dsr']:.3f}, "
            f"p = {d['p_value']:.3g}",
            highlight=False,
        )
        console.print(
            f"PBO (CSCV, {p['blocks']} blocks, {p['combinations']:,} splits): {p['value']:.2f}",
            highlight=False,
        )
        if report["importance"]:
            ranked = ", ".join(f"{k} {v:.0%}" for k, v in report["importance"].items())
            console.print(f"parameter importance: {ranked}", highlight=False)
    style = "bold green" if report["verdict"]["edge"] else "bold yellow"
    console.print(f"[{style}]verdict:[/] {report['verdict']['text']}", highlight=False)
    if html is not None:
        console.print(f"report written to {html}", highlight=False)


def _day(ts_ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")

"""``omega backtest``: run a strategy over historical candles (or sweep a parameter grid)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from omegafarm.core.errors import OmegaError

console = Console()
err_console = Console(stderr=True)
PROGRESS_MIN_BARS = 50_000


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(2)


def _time_ms(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(f"{option} {text!r}: use ms since the epoch or an ISO date") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _params(items: list[str]) -> dict[str, float | int]:
    out: dict[str, float | int] = {}
    for item in items:
        name, eq, value = item.partition("=")
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise _fail(f"--param {item!r}: use name=number") from None
        if not eq or not name:
            raise _fail(f"--param {item!r}: use name=number")
        out[name] = int(number) if "." not in value and "e" not in value.lower() else float(number)
    return out


def backtest(
    strategy: Annotated[str, typer.Option(help="Strategy name (sma_cross, ...) or module:Class.")],
    data: Annotated[Path, typer.Option(help="Candle file (CSV/Parquet) or a folder of them.")],
    from_: Annotated[str | None, typer.Option("--from", help="Start: ms or ISO date.")] = None,
    to: Annotated[str | None, typer.Option(help="End (exclusive): ms or ISO date.")] = None,
    symbol: Annotated[str | None, typer.Option(help="Symbol when --data is a folder.")] = None,
    timeframe: Annotated[
        str | None, typer.Option(help="Timeframe when --data is a folder.")
    ] = None,
    param: Annotated[list[str], typer.Option(help="Strategy parameter name=value.")] = [],  # noqa: B006  # typer needs a literal default
    capital: Annotated[str, typer.Option(help="Starting cash in the quote currency.")] = "10000",
    fee: Annotated[str, typer.Option(help="Fee rate per side (maker and taker).")] = "0.001",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    chart: Annotated[
        Path | None, typer.Option(help="Write an equity chart (.html or .png).")
    ] = None,
    grid: Annotated[str | None, typer.Option(help="Sweep, e.g. 'fast=5..20 slow=20..60'.")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Grid processes (default: all cores).")
    ] = None,
) -> None:
    """Backtest a strategy on historical candles with the paper exchange's matching engine."""
    from omegafarm.bots.backtest import Backtest, BacktestConfig
    from omegafarm.bots.strategies import get_strategy

    try:
        config = BacktestConfig(
            strategy=get_strategy(strategy),
            data=data,
            params=_params(param),
            symbol=symbol,
            timeframe=timeframe,
            from_ms=_time_ms(from_, "--from"),
            to_ms=_time_ms(to, "--to"),
            capital=Decimal(capital),
            taker_fee=Decimal(fee),
            maker_fee=Decimal(fee),
        )
        if grid is not None:
            _run_grid(config, grid, workers, as_json)
            return
        runner = Backtest(config)
        if runner.i1 - runner.i0 >= PROGRESS_MIN_BARS and not as_json:
            with _progress() as bar:
                task = bar.add_task("backtest", total=runner.i1 - runner.i0)
                result = runner.run(lambda done, _total: bar.update(task, completed=done))
        else:
            result = runner.run()
        if chart is not None:
            from omegafarm.bots.chart import write_chart

            write_chart(result, chart)
    except (OmegaError, InvalidOperation, ValueError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        print(json.dumps(result.as_dict(), default=str))
        return
    _render(result.as_dict(curve=False), chart)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,} bars"),
        TimeRemainingColumn(), console=err_console, transient=True,
    )  # fmt: skip


def _render(report: dict[str, Any], chart: Path | None) -> None:
    title = f"{report['strategy']} {report['params']} on {report['symbol']} {report['timeframe']}"
    table = Table(title=title, show_header=False)
    for key, value in report["metrics"].items():
        table.add_row(key, f"{value:.6g}" if isinstance(value, float) else str(value))
    table.add_row("bars", str(report["bars"]))
    if report["halted"]:
        table.add_row("halted", report["halted"])
    console.print(table)
    trades = Table(title=f"trades ({len(report['trades'])})")
    for head in ("side", "entry_ts_ms", "entry_price", "exit_ts_ms", "exit_price", "amount", "pnl"):
        trades.add_column(head, justify="right")
    for t in report["trades"][-20:]:
        trades.add_row(*(str(t[h]) for h in ("side", "entry_ts_ms", "entry_price", "exit_ts_ms",
                                             "exit_price", "amount", "pnl")))  # fmt: skip
    console.print(trades)
    if len(report["trades"]) > 20:
        console.print(f"(last 20 of {len(report['trades'])}; --json prints all)")
    if chart is not None:
        console.print(f"chart written to {chart}")


def _run_grid(config: Any, spec: str, workers: int | None, as_json: bool) -> None:
    from omegafarm.bots.grid import best_first, parse_grid, run_grid

    grid = parse_grid(spec)
    with _progress() as bar:
        task = bar.add_task("grid", total=None)
        rows = run_grid(
            config, grid, workers=workers,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )  # fmt: skip
    rows = best_first(rows)
    if as_json:
        print(json.dumps([r.__dict__ for r in rows], default=str))
        return
    table = Table(title=f"grid: {len(rows)} combinations, best Sharpe first")
    for head in (*grid, "return", "sharpe", "max_dd", "trades", "note"):
        table.add_column(head, justify="right")
    for row in rows[:30]:
        m = row.metrics or {}
        cells = [str(row.params[k]) for k in grid]
        cells += [_fmt(m.get("total_return")), _fmt(m.get("sharpe")), _fmt(m.get("max_drawdown"))]
        cells += [str(m.get("trades", "")), row.skipped or ""]
        table.add_row(*cells)
    console.print(table)


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else ""

"""``omega backtest``: run a strategy over historical candles (or sweep a parameter grid)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from omegafarm.core.errors import OmegaError

console = Console()
err_console = Console(stderr=True)
PROGRESS_MIN_BARS = 50_000


def _fail(message: str) -> typer.Exit:
    # soft_wrap: one error is one line, also when stderr is a file or a pipe (no 80-col wrap)
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
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


FillModel = Literal["book", "spread", "none"]


def backtest(
    strategy: Annotated[str, typer.Option(help="Strategy name (sma_cross, ...) or module:Class.")],
    data: Annotated[Path, typer.Option(help="Candle file (CSV/Parquet) or a folder of them.")],
    from_: Annotated[str | None, typer.Option("--from", help="Start: ms or ISO date.")] = None,
    to: Annotated[str | None, typer.Option(help="End (exclusive): ms or ISO date.")] = None,
    symbol: Annotated[str | None, typer.Option(help="Symbol when --data is a folder.")] = None,
    timeframe: Annotated[
        str | None,
        typer.Option(help="Bar size; checked against the timestamps (default: the file name)."),
    ] = None,
    param: Annotated[list[str], typer.Option(help="Strategy parameter name=value.")] = [],  # noqa: B006  # typer needs a literal default
    capital: Annotated[
        str | None,
        typer.Option(
            help="Starting cash: quote units ('1', '1BTC') or base units ('20ETH', at the first "
            "open). Default: 10000 of a fiat/stable quote, else 1."
        ),
    ] = None,
    fee: Annotated[str, typer.Option(help="Fee rate per side (maker and taker).")] = "0.001",
    fill: Annotated[
        FillModel,
        typer.Option(
            help="Taker fills: spread (half the volatility spread), book (walk a book sized "
            "from volume; crypto only), none (at the open)."
        ),
    ] = "spread",
    slippage_bps: Annotated[
        float, typer.Option(min=0.0, help="Fixed extra cost per taker fill, basis points.")
    ] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    chart: Annotated[
        Path | None,
        typer.Option(help="Write an interactive HTML chart: candles, trades, equity, drawdown."),
    ] = None,
    grid: Annotated[str | None, typer.Option(help="Sweep, e.g. 'fast=5..20 slow=20..60'.")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Grid processes (default: all cores).")
    ] = None,
    top: Annotated[int, typer.Option(min=1, help="Grid rows to show.")] = 30,
) -> None:
    """Backtest a strategy on historical candles with the paper exchange's matching engine."""
    from omegafarm.bots.backtest import Backtest, BacktestConfig
    from omegafarm.bots.strategies import get_strategy
    from omegafarm.exchange.paper.config import BookSettings

    try:
        config = BacktestConfig(
            strategy=get_strategy(strategy),
            data=data,
            params=_params(param),
            symbol=symbol,
            timeframe=timeframe,
            from_ms=_time_ms(from_, "--from"),
            to_ms=_time_ms(to, "--to"),
            capital=capital,
            taker_fee=Decimal(fee),
            maker_fee=Decimal(fee),
            book=BookSettings(fill=fill, slippage_bps=slippage_bps),
        )
        if grid is not None:
            _run_grid(config, grid, workers, as_json, top)
            return
        runner = Backtest(config)
        if runner.i1 - runner.i0 >= PROGRESS_MIN_BARS and not as_json:
            with _progress() as bar:
                task = bar.add_task("backtest", total=runner.i1 - runner.i0, unit="bars")
                result = runner.run(lambda done, _total: bar.update(task, completed=done))
        else:
            result = runner.run()
        if chart is not None:
            from omegafarm.bots.chart import write_chart

            write_chart(result, chart, runner.candles)
    except (OmegaError, InvalidOperation, ValueError) as exc:
        raise _fail(str(exc)) from None
    for warning in result.warnings:
        err_console.print(f"[bold yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    if as_json:
        print(json.dumps(result.as_dict(), default=str))
        return
    _render(result.as_dict(curve=False), chart)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[unit]}"), TimeElapsedColumn(), TextColumn("ETA"),
        TimeRemainingColumn(), console=err_console, transient=True,
    )  # fmt: skip


def _render(report: dict[str, Any], chart: Path | None) -> None:
    title = f"{report['strategy']} {report['params']} on {report['symbol']} {report['timeframe']}"
    console.print(f"[bold]{title}[/]", highlight=False, soft_wrap=True)
    console.print(f"  {report['from']} .. {report['to']}, {report['bars']:,} bars", highlight=False)
    for key, value in report["setup"].items():
        console.print(f"  {key}: {value}", highlight=False, soft_wrap=True)
    table = Table(show_header=False)
    for key, value in report["metrics"].items():
        table.add_row(key, f"{value:.6g}" if isinstance(value, float) else str(value))
    table.add_row("orders", f"{report['orders']} ({report['rejected']} rejected)")
    if report["halted"]:
        table.add_row("halted", report["halted"])
    console.print(table)
    trades = report["trades"]
    heads = ("side", "entry_time", "entry_price", "exit_time", "exit_price", "amount", "pnl")
    still_open = sum(1 for t in trades if t["exit_time"] is None)  # the metric counts closed ones
    counts = f"{len(trades) - still_open} closed, {still_open} open" if still_open else len(trades)
    shown = Table(title=f"trades ({counts})")
    for head in heads:
        shown.add_column(head, justify="right", no_wrap=True)
    for t in trades[-20:]:
        shown.add_row(*(str(t[h]) if t[h] is not None else "open" for h in heads))
    _print_table(shown)
    if len(trades) > 20:
        console.print(f"(last 20 of {len(trades)}; --json prints all)")
    rejected = report["rejected_orders"]
    if rejected:
        table = Table(title=f"rejected orders ({len(rejected)})")
        for head in ("time", "side", "type", "amount", "reason"):
            table.add_column(head, no_wrap=head != "reason")
        for r in rejected[:10]:
            table.add_row(r["time"], r["side"], r["type"], r["amount"], r["reason"])
        _print_table(table)
        if len(rejected) > 10:
            console.print(f"(first 10 of {len(rejected)}; --json lists all)")
    if chart is not None:
        console.print(f"chart written to {chart}")


def _print_table(table: Table) -> None:
    """On a terminal, fit its width; in a file or a pipe, as wide as the table needs (no column
    is cut: a report saved to a file shows every digit)."""
    if console.is_terminal:
        console.print(table)
        return
    need = console.measure(table, options=console.options.update(width=10_000)).maximum
    Console(width=max(80, need), highlight=False).print(table)


def _run_grid(config: Any, spec: str, workers: int | None, as_json: bool, top: int) -> None:
    import os
    import signal
    import sys

    from omegafarm.bots.backtest import load_source
    from omegafarm.bots.grid import GridStopped, best_first, parse_grid, run_grid

    grid = parse_grid(spec)
    _, check = load_source(config.data, config.symbol, config.timeframe)  # once, before forking
    for warning in check.warnings:
        err_console.print(f"[bold yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    try:
        with _progress() as bar:
            task = bar.add_task("grid", total=None, unit="points")
            rows = run_grid(
                config, grid, workers=workers,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )  # fmt: skip
    except (KeyboardInterrupt, GridStopped) as exc:
        sig = signal.SIGINT if isinstance(exc, KeyboardInterrupt) else signal.SIGTERM
        err_console.print(f"grid stopped by {sig.name}: workers stopped", highlight=False)
        # the workers are gone and the cache is closed: skip the interpreter's teardown
        # (a second or more on a busy machine) so a stop takes well under the 2 s promised
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + sig)
    rows = best_first(rows)
    if as_json:
        print(json.dumps([r.__dict__ for r in rows], default=str))
        return
    shown = rows[:top]
    skipped = sum(1 for r in rows if r.skipped)
    title = f"grid: top {len(shown)} of {len(rows)} combinations, best Sharpe first"
    table = Table(title=title + (f" ({skipped} skipped)" if skipped else ""))
    for head in (*grid, "return", "sharpe", "max_dd", "trades", "note"):
        table.add_column(head, justify="right")
    for row in shown:
        m = row.metrics or {}
        cells = [str(row.params[k]) for k in grid]
        cells += [_fmt(m.get("total_return")), _fmt(m.get("sharpe")), _fmt(m.get("max_drawdown"))]
        cells += [str(m.get("trades", "")), row.skipped or ""]
        table.add_row(*cells)
    _print_table(table)
    if len(rows) > len(shown):
        console.print(f"(top {len(shown)} of {len(rows)}; --top N shows more, --json all)")


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else ""

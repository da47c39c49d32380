"""``omega analyze``: the evidence table and charts of the cosmic analysis.

Thin: read candle CSV files (``timestamp,open,high,low,close,volume``), call
:mod:`omegafarm.cosmic`, render with rich, write the CSV table or the chart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich import box
from rich.console import Console
from rich.table import Table

from omegafarm.cli._app import console, fail
from omegafarm.core.errors import OmegaError
from omegafarm.cosmic._ohlcv import Ohlcv, as_ohlcv
from omegafarm.cosmic.evaluation import EvalSettings, EvaluationRow, evaluate_candles, rows_to_csv

app = typer.Typer(
    help="Cosmic analysis: walk-forward evidence tables and charts.", no_args_is_help=True
)

DataOpt = Annotated[Path, typer.Option("--data", help="candle CSV file, or a folder of them")]


def _read_candles(path: Path) -> Ohlcv:
    """One candle CSV (header row, six numeric columns) as validated candles."""
    try:
        arr = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read candles from {path}: {exc}") from None
    try:
        return as_ohlcv(arr)
    except OmegaError as exc:
        raise fail(f"{path}: {exc}") from None


def _candle_files(data: Path) -> list[Path]:
    if data.is_dir():
        files = sorted(data.glob("*.csv"))
        if not files:
            raise fail(f"no .csv candle files in {data}")
        return files
    if not data.is_file():
        raise fail(f"no such file or folder: {data}")
    return [data]


def _fmt(v: float, spec: str = ".3f") -> str:
    return "-" if v != v else format(v, spec)  # NaN check without importing math


def _render(rows: list[EvaluationRow], title: str) -> None:
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("kind", no_wrap=True)
    for col in ("n", "hit", "95% CI", "base", "net bp", "base bp", "p", "Holm p"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in rows:
        mark = "[bold green]" if r.significant else ""
        table.add_row(
            r.kind,
            str(r.n_signals),
            _fmt(r.hit_rate, ".2f"),
            f"{_fmt(r.hit_ci_low, '.2f')}-{_fmt(r.hit_ci_high, '.2f')}",
            _fmt(r.baseline_hit_rate, ".2f"),
            _fmt(r.mean_net_bp, "+.0f"),
            _fmt(r.baseline_mean_bp, "+.0f"),
            _fmt(r.p_value, ".2g"),
            f"{mark}{_fmt(r.p_adjusted, '.2g')}",
        )
    Console(width=max(console.width, 100)).print(table)  # numbers whole even in narrow pipes


@app.command()
def evaluate(
    data: DataOpt,
    out: Annotated[Path | None, typer.Option("--out", help="write the table as CSV")] = None,
    horizon: Annotated[int, typer.Option(help="bars held after each entry")] = 24,
    cost_bps: Annotated[float, typer.Option(help="cost per side, basis points")] = 10.0,
    seed: Annotated[int, typer.Option(help="seed of baselines and bootstrap")] = 0,
) -> None:
    """Walk-forward evidence: patterns, Fibonacci zones and cycles vs random placements."""
    if horizon < 1 or cost_bps < 0:
        raise fail("--horizon must be >= 1 and --cost-bps >= 0")
    markets = {p.stem: _read_candles(p) for p in _candle_files(data)}
    settings = EvalSettings(horizon_bars=horizon, cost_bps=cost_bps, seed=seed)
    try:
        rows = evaluate_candles(markets, settings)
    except OmegaError as exc:
        raise fail(str(exc)) from None
    n_bars = sum(len(m) for m in markets.values())
    _render(rows, f"{len(markets)} market(s), {n_bars:,} candles, horizon {horizon} bars")
    console.print(
        "hit = net return > 0 after costs; p one-sided vs random placements; "
        "Holm over all rows; entries only at the bar a signal became known."
    )
    if out is not None:
        try:
            out.write_text(rows_to_csv(rows), encoding="utf-8")
        except OSError as exc:
            raise fail(f"cannot write {out}: {exc}") from None
        console.print(f"table written to {out}")
    console.print(verdict(rows), highlight=False)


def verdict(rows: list[EvaluationRow]) -> str:
    """The table in one sentence: which signals beat random placements, or that none did."""
    winners = [r.kind for r in rows if r.significant]
    tested = len(rows)
    if not tested:
        return "Verdict: no signal fired on these candles, so there is nothing to judge."
    if not winners:
        return (
            f"Verdict: none of the {tested} signals beat random entries after costs once "
            "corrected for testing them all (Holm); do not trade them on this evidence."
        )
    names = ", ".join(winners)
    return (
        f"Verdict: {len(winners)} of {tested} signals beat random entries after costs and "
        f"the Holm correction: {names}. Check them on other markets before trusting them."
    )


@app.command()
def chart(
    data: Annotated[Path, typer.Option("--data", help="one candle CSV file")],
    out: Annotated[Path, typer.Option("--out", help="chart.png or chart.html")],
    bars: Annotated[int, typer.Option(help="candles shown (the analysis uses all)")] = 300,
) -> None:
    """Candles with pivots, Fibonacci levels, harmonic patterns and the dominant cycle."""
    if not data.is_file():
        raise fail(f"no such file: {data}")
    if bars < 10:
        raise fail("--bars must be >= 10")
    candles = _read_candles(data)
    try:
        from omegafarm.cosmic.chart import save_chart  # matplotlib: only when drawing

        path = save_chart(candles, out, bars=bars, title=data.stem)
    except OmegaError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot write {out}: {exc}") from None
    console.print(f"chart written to {path}")

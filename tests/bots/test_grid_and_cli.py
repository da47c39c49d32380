"""Grid parsing and sweeps, and the ``omega backtest`` command."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from omegafarm.bots.backtest import BacktestConfig
from omegafarm.bots.grid import best_first, parse_grid, run_grid
from omegafarm.bots.strategies import SmaCross
from omegafarm.cli import app
from omegafarm.core.errors import ValidationError


def test_grid_spec_expands_ranges_steps_and_lists() -> None:
    grid = parse_grid("fast=5..8 slow=20..40:10 f=0.5,0.75")
    assert grid == {"fast": [5, 6, 7, 8], "slow": [20, 30, 40], "f": [0.5, 0.75]}


@pytest.mark.parametrize(
    "spec", ["fast", "fast=9..5", "fast=a..b", ""], ids=["no-eq", "reversed", "nan", "empty"]
)
def test_bad_grid_specs_are_validation_errors(spec: str) -> None:
    with pytest.raises(ValidationError):
        parse_grid(spec)


def test_grid_runs_on_two_processes_and_skips_invalid_combinations(
    ohlcv_dir: Path, tmp_path: Path
) -> None:
    base = BacktestConfig(
        strategy=SmaCross, data=ohlcv_dir / "ETH_BTC-5m.csv", capital=Decimal(1),
        to_ms=1_515_560_100_000 + 1500 * 300_000,
    )  # fmt: skip
    rows = run_grid(base, parse_grid("fast=10,30 slow=20,40"), workers=2, cache=False)
    assert len(rows) == 4
    skipped = [r for r in rows if r.skipped]
    assert [r.params for r in skipped] == [{"fast": 30, "slow": 20}]
    ranked = best_first(rows)
    assert ranked[-1].skipped and ranked[0].metrics is not None


def test_cli_backtest_json_reports_every_trade_with_times_in_ms(
    ohlcv_dir: Path, tmp_path: Path
) -> None:
    chart = tmp_path / "equity.html"
    result = CliRunner().invoke(
        app,
        ["backtest", "--strategy", "sma_cross", "--data", str(ohlcv_dir), "--symbol", "ETH/BTC",
         "--from", "2018-01-11", "--to", "2018-01-13", "--capital", "1", "--json",
         "--chart", str(chart)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["symbol"] == "ETH/BTC" and report["trades"]
    first = report["trades"][0]
    assert set(first) >= {
        "side",
        "entry_ts_ms",
        "exit_ts_ms",
        "entry_price",
        "exit_price",
        "amount",
        "fee",
        "pnl",
    }
    assert report["from_ms"] >= 1_515_628_800_000 and report["to_ms"] <= 1_515_801_600_000
    page = chart.read_text()
    assert "Bokeh" in page and "ETH/BTC" in page


@pytest.mark.parametrize(
    "args",
    [["--strategy", "nope"], ["--strategy", "sma_cross", "--from", "yesterday-ish"],
     ["--strategy", "sma_cross", "--param", "fast"]],
    ids=["unknown-strategy", "bad-date", "bad-param"],
)  # fmt: skip
def test_cli_backtest_user_errors_exit_2_with_one_line(args: list[str], ohlcv_dir: Path) -> None:
    result = CliRunner().invoke(
        app, ["backtest", "--data", str(ohlcv_dir / "ETH_BTC-5m.csv"), *args]
    )
    assert result.exit_code == 2
    assert "error:" in result.output and "Traceback" not in result.output


def test_cli_backtest_table_says_how_many_trades_are_closed_and_open(ohlcv_dir: Path) -> None:
    """The metric ``trades`` counts closed trades; the table also lists one still open at the
    end (sma_cross on NXT/BTC ends long): its title says both."""
    import re

    result = CliRunner().invoke(
        app, ["backtest", "--strategy", "sma_cross", "--data", str(ohlcv_dir / "NXT_BTC-5m.csv"),
              "--capital", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    closed = re.search(r"│ trades\s+│ (\d+)", result.stdout)
    title = re.search(r"trades \((\d+) closed, (\d+) open\)", result.stdout)
    assert closed and title, result.stdout[:2000]
    assert title.groups() == (closed.group(1), "1")

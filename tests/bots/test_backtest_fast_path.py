"""A backtest gives the same report whether the paper engine takes its fast paths (idle bars
jumped in one step, books remembered per bar: the default) or plays every bar event one by one
and computes every book afresh (``fast_path`` off): same trades, fills, fees, metrics and
equity curve, for every example strategy, on real ETH/BTC 5m candles."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from omegafarm.bots.backtest import Backtest, BacktestConfig
from omegafarm.bots.strategies import get_strategy
from omegafarm.exchange.paper import BookSettings


def _report(path: Path, strategy: str, book: BookSettings, fast: bool) -> dict[str, Any]:
    config = BacktestConfig(
        strategy=get_strategy(strategy), data=path, capital=Decimal(10), book=book
    )
    runner = Backtest(config, fast_path=fast)  # False = bar by bar, books afresh
    result = runner.run()
    report = result.as_dict(curve=True)
    report["fills"] = [(f.ts_ms, f.side, f.price, f.amount, f.fee) for f in result.ledger.fills]
    report["balances"] = [runner.exchange.balance_of(c) for c in ("ETH", "BTC")]
    return report


@pytest.mark.parametrize(
    "strategy", ["sma_cross", "fib_retracement", "harmonic_prz", "cycle_timing"]
)
@pytest.mark.parametrize(
    "book",
    [BookSettings(), BookSettings(spread_floor_bps=0, spread_sigma_mult=0)],
    ids=["slippage", "no-spread"],
)
def test_backtest_report_is_identical_with_the_engine_fast_path_off(
    ohlcv_dir: Path, strategy: str, book: BookSettings
) -> None:
    path = ohlcv_dir / "ETH_BTC-5m.csv"
    fast = _report(path, strategy, book, fast=True)
    slow = _report(path, strategy, book, fast=False)
    assert fast["fills"], "the strategy should trade on this data"
    assert fast == slow

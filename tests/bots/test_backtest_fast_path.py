"""A backtest gives the same report whether the paper engine takes its fast paths (idle bars
jumped in one step, books remembered per bar: the default) or plays every bar event one by one
and computes every book afresh (``fast_path`` off): same trades, fills, fees, metrics and
equity curve, for every example strategy, on real ETH/BTC 5m candles."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from omegafarm.bots._convert import update_from_order, update_from_paper
from omegafarm.bots.backtest import Backtest, BacktestConfig
from omegafarm.bots.strategies import get_strategy
from omegafarm.exchange.paper import BookSettings
from omegafarm.exchange.paper._models import order_model


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


@pytest.mark.parametrize(
    ("strategy", "kinds"),
    [("sma_cross", {("market", "closed")}),
     ("fib_retracement", {("limit", "closed"), ("limit", "canceled"), ("market", "closed")})],
)  # fmt: skip
def test_the_backtests_one_step_update_equals_the_typed_models_update(
    ohlcv_dir: Path, strategy: str, kinds: set[tuple[str, str]]
) -> None:
    """The backtest turns the engine's order straight into the bot's update; it must say
    exactly what the typed model path (live bots, the paper venue) says, to the Decimal's
    digits: market and limit orders, filled, cancelled and resting ones."""
    config = BacktestConfig(
        strategy=get_strategy(strategy), data=ohlcv_dir / "ETH_BTC-5m.csv", capital=Decimal(10)
    )
    runner = Backtest(config)
    result = runner.run()
    ids = [u.order_id for u in result.ledger.orders.values() if u.order_id]
    records = [runner.venue.order_record(i) for i in ids]
    assert {(r.type, r.status) for r in records} >= kinds
    for record in records:
        assert repr(update_from_paper(record)) == repr(update_from_order(order_model(record)))

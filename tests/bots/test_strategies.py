"""Strategies through the backtest runner: helpers, brackets, risk limits, no look-ahead."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from omegafarm.bots.backtest import BacktestConfig, run_backtest
from omegafarm.bots.strategies import STRATEGIES, get_strategy
from omegafarm.bots.strategy import Candle, Strategy
from omegafarm.bots.trader import RiskLimits
from omegafarm.core.errors import ConfigError, ValidationError
from omegafarm.exchange.paper import write_candles

START = 1_700_000_000_000


def wave_file(folder: Path, n: int = 600) -> Path:
    """A sine wave around 100 (rounded to the tick the replay source derives)."""
    t = np.arange(n)
    close = np.round(100 + 10 * np.sin(t / 15.0), 4)
    opens = np.concatenate(([close[0]], close[:-1]))
    rows = [
        (START + 60_000 * i, float(opens[i]), float(max(opens[i], close[i]) + 0.05),
         float(min(opens[i], close[i]) - 0.05), float(close[i]), 1000.0)
        for i in range(n)
    ]  # fmt: skip
    return write_candles(folder, "SIN/USDT", "1m", rows)


class BuyEveryTenBars(Strategy):
    name = "every_ten"
    defaults: ClassVar[dict[str, int | float]] = {"amount": 1.0}

    def on_start(self) -> None:
        self.seen: list[int] = []

    def on_candle(self, candle: Candle) -> None:
        assert self.candles.ts_ms[-1] == candle.ts_ms  # the feed shows exactly up to now
        self.seen.append(candle.ts_ms)
        if len(self.candles) % 10 == 0:
            self.buy(float(self.params["amount"]))


class BracketOnce(Strategy):
    name = "bracket_once"
    defaults: ClassVar[dict[str, int | float]] = {"stop": 0.97, "target": 1.03}

    def on_candle(self, candle: Candle) -> None:
        if len(self.candles) == 50 and self.position == 0:
            c = candle.close
            self.buy(
                self.size_by_risk(c, c * self.params["stop"], 0.01),
                stop_loss=c * self.params["stop"],
                take_profit=c * self.params["target"],
            )


def config(
    path: Path, strategy: type[Strategy], capital: int = 100_000, **kw: object
) -> BacktestConfig:
    return BacktestConfig(strategy=strategy, data=path, capital=Decimal(capital), **kw)  # type: ignore[arg-type]


def test_orders_fill_only_after_they_were_sent_at_the_next_open(tmp_path: Path) -> None:
    path = wave_file(tmp_path)
    result = run_backtest(config(path, BuyEveryTenBars))
    sent = {o.client_order_id: o for o in result.ledger.orders.values()}
    fills = result.ledger.fills
    assert len(fills) >= 50
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    opens = dict(zip(data[:, 0].astype(int).tolist(), data[:, 1].tolist(), strict=True))
    for fill in fills:
        order = sent[fill.client_order_id]
        assert fill.ts_ms >= order.ts_ms  # placed at a bar's close, filled at a later open
        assert float(fill.price) >= opens[fill.ts_ms]  # a buy never beats that open


def test_risk_limit_max_position_halts_the_bot_and_says_why(tmp_path: Path) -> None:
    limits = RiskLimits(max_position=Decimal("3.5"))
    result = run_backtest(config(wave_file(tmp_path), BuyEveryTenBars, limits=limits))
    assert result.halted is not None and "max position 3.5" in result.halted
    assert result.ledger.position == Decimal(3)


def test_max_open_orders_halts_a_bot_that_piles_up_limit_orders(tmp_path: Path) -> None:
    class LowBids(Strategy):
        name = "low_bids"

        def on_candle(self, candle: Candle) -> None:
            self.buy(1, limit=candle.close * 0.5)

    limits = RiskLimits(max_open_orders=3)
    result = run_backtest(config(wave_file(tmp_path), LowBids, limits=limits))
    assert result.halted == "max open orders 3 reached"
    assert not result.ledger.open_orders()  # halting cancelled them
    assert all(o.status == "canceled" for o in result.ledger.orders.values())


def test_stop_loss_or_take_profit_closes_the_bracketed_position(tmp_path: Path) -> None:
    result = run_backtest(config(wave_file(tmp_path), BracketOnce))
    (trade,) = result.ledger.trades
    assert trade.exit_ts_ms is not None and result.ledger.position == 0
    entry = float(trade.entry_price)
    assert trade.exit_price is not None
    exit_ratio = float(trade.exit_price) / entry
    assert exit_ratio <= 0.97 + 1e-3 or exit_ratio >= 1.03 - 1e-3
    assert not result.ledger.open_orders()  # the other leg was cancelled


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_example_strategy_trades_real_candles_and_reports(name: str, ohlcv_dir: Path) -> None:
    # 1 BTC: an order of 100,000 BTC would walk the simulated book into the ground
    result = run_backtest(config(ohlcv_dir / "ETH_BTC-5m.csv", STRATEGIES[name], capital=1))
    report = result.as_dict()
    assert report["metrics"]["trades"] >= 1
    assert len(report["equity_curve"]) == result.bars
    assert report["metrics"]["max_drawdown"] >= 0
    assert abs(result.equity[-1] - report["metrics"]["end_equity"]) < 1e-9


def test_unknown_strategy_and_unknown_parameter_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="unknown strategy"):
        get_strategy("nope")
    with pytest.raises(ValidationError, match="unknown parameter"):
        STRATEGIES["sma_cross"]({"fats": 3})
    assert get_strategy("omegafarm.bots.strategies:SmaCross") is STRATEGIES["sma_cross"]

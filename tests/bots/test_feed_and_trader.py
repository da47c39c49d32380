"""The candle feed in live mode, and the Trader's daily loss limit and order ids."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from omegafarm.bots.config import load_farm_file
from omegafarm.bots.feed import CandleFeed, Indicator, cross, sma
from omegafarm.bots.ledger import Ledger, OrderUpdate
from omegafarm.bots.strategy import Candle, Strategy
from omegafarm.bots.trader import PlaceOrder, RiskLimits, Trader
from omegafarm.core.errors import ConfigError

MIN = 60_000


def row(i: int, close: float) -> list[float]:
    return [float(i * MIN), close, close + 1, close - 1, close, 10.0]


def test_live_feed_recomputes_indicators_and_keeps_a_bounded_window() -> None:
    feed = CandleFeed(capacity=16)
    fast = Indicator(feed, sma, ("close", 2), {})
    slow = Indicator(feed, sma, ("close", 4), {})
    closes = [10, 9, 8, 7, 8, 9, 10, 11, *list(range(12, 40))]
    signals = []
    for i, c in enumerate(closes):
        assert feed.append(row(i, float(c)))
        signals.append(cross(fast, slow))
    assert not feed.append(row(0, 1.0))  # an old candle is ignored
    assert len(feed) <= 16 and feed.close[-1] == 39.0
    assert fast[-1] == pytest.approx(38.5) and slow[-1] == pytest.approx(37.5)
    assert signals.index(1) == 5  # the first bar where SMA(2) rises above SMA(4)
    assert np.isnan(Indicator(CandleFeed(), sma, ("close", 3), {})[-1])


class DipBuyer(Strategy):
    name = "dip_buyer"

    def on_candle(self, candle: Candle) -> None:
        if self.position == 0 and not self.open_orders:
            self.buy(Decimal(10))


def test_daily_loss_limit_halts_cancels_and_closes_the_position() -> None:
    feed = CandleFeed(capacity=64)
    ledger = Ledger("b7", "X/USDT", "X", "USDT", Decimal(1000))
    trader = Trader("b7", DipBuyer(), ledger, feed, RiskLimits(max_daily_loss=Decimal(50)))
    trader.start()
    feed.append(row(1, 100.0))
    trader.candle(Candle(MIN, 100, 101, 99, 100, 10))
    (place,) = trader.drain()
    assert isinstance(place, PlaceOrder) and place.client_order_id == "b7-1"
    filled = OrderUpdate("b7-1", "9", "X/USDT", "buy", "market", "closed", Decimal(10),
                         Decimal(10), Decimal(1000), Decimal(0), "USDT", None, 2 * MIN)  # fmt: skip
    trader.order_update(filled)
    feed.append(row(2, 90.0))
    trader.candle(Candle(2 * MIN, 90, 91, 89, 90, 10))  # equity 900: a loss of 100 > 50
    assert trader.halted is not None and trader.halted.startswith("max daily loss 50")
    (close,) = trader.drain()
    assert isinstance(close, PlaceOrder) and close.side == "sell" and close.amount == 10
    trader.candle(Candle(3 * MIN, 80, 81, 79, 80, 10))
    assert trader.drain() == []  # a halted bot sends nothing more


def test_farm_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "farm.toml"
    bad.write_text('[[bots]]\nid = "A B"\nstrategy = "sma_cross"\nsymbol = "BTC/USDT"\n')
    with pytest.raises(ConfigError, match=r"farm\.toml"):
        load_farm_file(bad)
    bad.write_text(
        "[[bots]]\nid = 'a'\nstrategy = 'x'\nsymbol = 'B/U'\n" * 1
        + "[[bots]]\nid = 'a'\nstrategy = 'x'\nsymbol = 'B/U'\n"
    )
    with pytest.raises(ConfigError, match="unique"):
        load_farm_file(bad)
    assert [b.id for b in load_farm_file(None)] == ["sma_btc", "sma_eth", "fib_sol", "cycle_btc"]

"""SMA crossover: long when the fast average crosses above the slow one, flat when it crosses back.

The textbook trend follower (and backtesting.py's first example). Orders go out at the close
of the crossing candle and fill at the next open. ``amount`` > 0 trades a fixed size in base
units; 0 invests ``fraction`` of equity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from omegafarm.bots.feed import cross, sma
from omegafarm.bots.strategy import Candle, ParamValue, Strategy
from omegafarm.core.errors import ValidationError


class SmaCross(Strategy):
    """Fast/slow simple moving average crossover, long only."""

    name = "sma_cross"
    description = "long when SMA(fast) crosses above SMA(slow), flat when it crosses below"
    defaults: ClassVar[Mapping[str, ParamValue]] = {
        "fast": 10,
        "slow": 30,
        "amount": 0.0,
        "fraction": 0.95,
    }

    def on_start(self) -> None:
        fast, slow = int(self.params["fast"]), int(self.params["slow"])
        if not 0 < fast < slow:
            raise ValidationError(f"sma_cross needs 0 < fast < slow, got fast={fast} slow={slow}")
        self.fast = self.indicator(sma, "close", fast)
        self.slow = self.indicator(sma, "close", slow)

    def on_candle(self, candle: Candle) -> None:
        signal = cross(self.fast, self.slow)  # +1 crossed above, -1 crossed below, 0 neither
        if signal > 0 and self.position <= 0:
            amount = float(self.params["amount"])
            self.buy(amount if amount > 0 else self.size_by_fraction(self.params["fraction"]))
        elif signal < 0 and self.position > 0:
            self.close_position()

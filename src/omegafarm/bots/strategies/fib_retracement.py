"""Fibonacci retracement entries: buy the pull-back of a confirmed up-swing, stop below it.

When the zig-zag confirms a swing high (so the last swing went low → high), a limit buy rests
at the ``level`` retracement of that swing (0.618 by default). The stop sits a little below the
swing low (the 1.0 level), the take-profit at the swing high; the size risks ``risk`` of equity
between entry and stop. An entry that has not filled after ``patience`` bars is cancelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from omegafarm.bots.strategy import Candle, ParamValue, Strategy
from omegafarm.cosmic import PIVOT_HIGH, ZigZag, ZigZagConfig, fibonacci_levels


class FibRetracement(Strategy):
    """Limit entries at a Fibonacci retracement of the last up-swing."""

    name = "fib_retracement"
    description = "limit buy at the 0.618 retracement of a confirmed up-swing, stop under it"
    defaults: ClassVar[Mapping[str, ParamValue]] = {
        "threshold": 3.0,
        "level": 0.618,
        "risk": 0.01,
        "patience": 48,
        "buffer": 0.002,
    }

    def on_start(self) -> None:
        self.zigzag = ZigZag(ZigZagConfig(mode="atr", threshold=float(self.params["threshold"])))
        self.entry: str | None = None
        self.entry_bar = 0

    def on_candle(self, candle: Candle) -> None:
        new = self.zigzag.push(candle.high, candle.low, candle.close)
        bar = len(self.candles)
        if self.entry and bar - self.entry_bar > int(self.params["patience"]):
            self.cancel(self.entry)
            self.entry = None
        if not new or self.position != 0 or self.open_orders:
            return
        kinds, prices = self.zigzag.pivots_kind, self.zigzag.pivots_price
        if len(prices) < 2 or kinds[-1] != PIVOT_HIGH:
            return
        low, high = prices[-2], prices[-1]
        levels = {lv.ratio: lv.price for lv in fibonacci_levels(low, high).retracements}
        entry = levels.get(float(self.params["level"]), high - 0.618 * (high - low))
        stop = low * (1 - float(self.params["buffer"]))
        if not (stop < entry < candle.close):
            return
        amount = self.size_by_risk(entry, stop, float(self.params["risk"]))
        self.entry = self.buy(amount, limit=entry, stop_loss=stop, take_profit=high)
        self.entry_bar = bar

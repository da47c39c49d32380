"""Harmonic PRZ entries: buy inside the potential reversal zone of a forming bullish pattern.

A :class:`~omegafarm.cosmic.incremental.CosmicStream` tracks pivots and XABCD patterns candle by
candle. When a bullish pattern is forming (X, A, B, C confirmed, D not yet), its PRZ is the
price band where D would complete every ratio rule; a limit buy rests at the top of that band,
the stop sits ``stop_buffer`` below its bottom and the take-profit at C. Unfilled entries are
cancelled when the pattern stops forming or after ``patience`` bars.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from omegafarm.bots.strategy import Candle, ParamValue, Strategy
from omegafarm.cosmic import HarmonicConfig, ZigZagConfig
from omegafarm.cosmic.incremental import CosmicStream


class HarmonicPrz(Strategy):
    """Limit entries at the PRZ of forming bullish harmonic patterns."""

    name = "harmonic_prz"
    description = "limit buy at the top of a forming bullish XABCD pattern's PRZ, stop below it"
    defaults: ClassVar[Mapping[str, ParamValue]] = {
        "threshold": 2.5,
        "risk": 0.01,
        "stop_buffer": 0.01,
        "patience": 96,
    }

    def on_start(self) -> None:
        zigzag = ZigZagConfig(mode="atr", threshold=float(self.params["threshold"]))
        self.stream = CosmicStream(HarmonicConfig(zigzag=zigzag))
        self.entry: str | None = None
        self.entry_bar = 0

    def on_candle(self, candle: Candle) -> None:
        self.stream.append(
            [candle.ts_ms, candle.open, candle.high, candle.low, candle.close, candle.volume]
        )
        bar = len(self.candles)
        if self.entry and bar - self.entry_bar > int(self.params["patience"]):
            self.cancel(self.entry)
            self.entry = None
        if self.position != 0 or self.open_orders:
            return
        bullish = [p for p in self.stream.forming if p.direction == "bullish"]
        if not bullish:
            return
        best = max(bullish, key=lambda p: p.score)
        low, high = sorted(best.prz)
        stop = low * (1 - float(self.params["stop_buffer"]))
        target = best.prices[3]  # C
        if not (stop < high < candle.close and target > high):
            return
        amount = self.size_by_risk(high, stop, float(self.params["risk"]))
        self.entry = self.buy(amount, limit=high, stop_loss=stop, take_profit=target)
        self.entry_bar = bar

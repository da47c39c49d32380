"""A user strategy with a bug (loaded as ``tests.bots._crashing:Crashing``)."""

from __future__ import annotations

from omegafarm.bots.strategy import Candle, Strategy


class Crashing(Strategy):
    """Divides by zero on every candle: a real bug in user code."""

    name = "crashing"

    def on_candle(self, candle: Candle) -> None:
        _ = candle.close / 0

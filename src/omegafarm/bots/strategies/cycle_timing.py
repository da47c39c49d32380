"""Cycle-timed entries: buy near the trough of a strong dominant cycle, sell near its crest.

A :class:`~omegafarm.cosmic.cycles.CycleTracker` estimates the dominant cycle of the last
``window`` closes at every candle (phase 0 is a crest, pi a trough). When the cycle is strong
enough (``min_strength`` of the band's power) and its phase has just passed the trough, the
strategy buys ``fraction`` of equity with a stop ``stop_atr`` average true ranges below the
close; it exits when the phase passes the crest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar

from omegafarm.bots.strategy import Candle, ParamValue, Strategy
from omegafarm.cosmic import average_true_range
from omegafarm.cosmic.cycles import CycleTracker


class CycleTiming(Strategy):
    """Entries timed by the phase of the dominant cycle."""

    name = "cycle_timing"
    description = "buy just after the dominant cycle's trough, sell after its crest"
    defaults: ClassVar[Mapping[str, ParamValue]] = {
        "window": 64,
        "min_strength": 0.3,
        "fraction": 0.5,
        "stop_atr": 3.0,
    }

    def on_start(self) -> None:
        window = int(self.params["window"])
        self.tracker = CycleTracker(window=window, min_period=8.0)
        self.atr = self.indicator(average_true_range, "high", "low", "close", 14)
        self.prev_phase = math.nan

    def on_candle(self, candle: Candle) -> None:
        state = self.tracker.update(candle.close)
        phase, prev = state.phase, self.prev_phase
        self.prev_phase = phase
        if math.isnan(phase) or math.isnan(prev):
            return
        strong = state.strength >= float(self.params["min_strength"])
        past_trough = prev < math.pi <= phase
        past_crest = phase < prev  # wrapped from 2*pi to 0
        if self.position > 0 and past_crest:
            self.close_position()
        elif self.position == 0 and strong and past_trough and not self.open_orders:
            atr = self.atr[-1]
            stop = candle.close - float(self.params["stop_atr"]) * atr if atr == atr else None
            self.buy(self.size_by_fraction(float(self.params["fraction"])), stop_loss=stop)

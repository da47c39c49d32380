"""The clock of the paper exchange: manual steps, or following the wall clock.

Simulated time only moves forward. ``advance``/``step_to`` move it as fast as the CPU allows
(backtests); an *anchor* (wall seconds, simulated ms, speed) makes every call catch up with
the wall clock first (``clock="wall"``, or while ``run()`` is driving it), so real-time and
accelerated play need no background task of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from omegafarm.exchange.paper._engine import Engine
from omegafarm.exchange.paper._state import Order
from omegafarm.exchange.paper.config import PaperSettings


class PaperClock:
    """The clock half of ``PaperExchange`` (a mixin: the exchange sets the attributes)."""

    settings: PaperSettings
    _engine: Engine
    _clock_s: Callable[[], float]
    _anchor: tuple[float, int, float] | None

    @property
    def timeframe(self) -> str:
        """Bar size of the market source: the clock's resolution."""
        return self._engine.source.timeframe

    @property
    def finished(self) -> bool:
        """True when a replay has no bar left (a synthetic market never ends)."""
        end = self._engine.source.end_ts_ms
        return end is not None and self._engine.now_ms >= end

    def milliseconds(self) -> int:
        """The simulated now, in ms (ccxt's name)."""
        self._sync()
        return self._engine.now_ms

    def bar_cursors(self) -> tuple[dict[str, int], dict[str, int]]:
        """Per symbol: the first bar not yet closed and the first not yet opened."""
        return self._engine.schedule.cursors()

    def advance(self, bars: int = 1) -> int:
        """Move the clock ``bars`` bars forward, filling orders; returns bars processed."""
        return self._engine.advance_to(self._engine.now_ms + bars * self._engine.tf_ms)

    def step_to(self, ts_ms: int) -> int:
        """Move the clock to ``ts_ms``, processing every bar that closes by then."""
        return self._engine.advance_to(ts_ms)

    def wake_in_s(self) -> float | None:
        """Wall seconds until an order or a bar can next change (None: a manual clock, which
        moves only when told). At most one second, so a changed anchor is noticed."""
        if self._anchor is None:
            return None
        self._sync()
        speed = self._anchor[2]
        if speed <= 0:
            return 0.01
        now_ms = self._engine.now_ms
        due_ms = self._engine.next_event_ms() + 1  # events are due once the clock is past them
        return min(1.0, max(0.001, (due_ms - now_ms) / 1000 / speed))

    def set_listener(self, listener: Callable[[Order | None], None] | None) -> None:
        """Be told of every order change (the engine's order) and of closed bars (None)."""
        self._engine.listener = listener

    def drop_listener(self, listener: Callable[[Order | None], None]) -> None:
        """Stop telling ``listener``, unless another has replaced it (a newer stream's stays:
        a stream closing after its successor opened must not silence it)."""
        if self._engine.listener == listener:
            self._engine.listener = None

    def _sync(self) -> None:
        """Catch the simulated clock up with the wall clock (when it follows one)."""
        if self._anchor is not None:
            wall0, sim0, speed = self._anchor
            target = sim0 + int((self._clock_s() - wall0) * 1000 * speed)
            if target > self._engine.now_ms:
                self._engine.advance_to(target)

    async def run(self, *, speed: float | None = None, stop: asyncio.Event | None = None) -> None:
        """Drive the clock until ``stop`` or the end of a replay: ``speed`` simulated seconds
        per wall second, or bar after bar as fast as possible with speed 0."""
        speed = self.settings.speed if speed is None else speed
        stop = stop or asyncio.Event()
        if speed <= 0:
            while not stop.is_set() and not self.finished:
                self.advance()
                await asyncio.sleep(0)  # yield to bots between bars
            return
        saved = self._anchor
        if saved is None or saved[2] != speed:
            self._anchor = (self._clock_s(), self._engine.now_ms, speed)
        tf_ms = self._engine.tf_ms
        try:
            while not stop.is_set() and not self.finished:
                self._sync()
                next_close = (self._engine.now_ms // tf_ms + 1) * tf_ms
                wait_s = min(1.0, max(0.001, (next_close - self._engine.now_ms) / 1000 / speed))
                try:
                    await asyncio.wait_for(stop.wait(), timeout=wait_s)
                except TimeoutError:
                    continue
        finally:
            self._anchor = saved

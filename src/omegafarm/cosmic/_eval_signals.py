"""Signals for the evidence harness: what was known when, and the random placements to beat.

A :class:`Signal` is entered at the close of ``known_at_bar`` and declares the last bar of
data it depends on (``uses_bars_through``); the harness refuses a signal known before that bar.
A :class:`Placement` is a baseline entry (bar, direction) of the same mechanism placed at
random, e.g. a zone of the same width at a random retracement ratio, entered the same way.

Baselines are pooled per market over *all* swings, not matched per signal: matching on the
swings where a deep zone was touched would condition the shallower random zones of that swing
on their own future (price kept falling to reach the deep zone), which biases the baseline down
by about 6 points of hit rate on a random walk — we measured it before fixing it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from omegafarm.core.errors import ValidationError
from omegafarm.cosmic._ohlcv import FloatArray, Ohlcv, OhlcvInput, as_ohlcv
from omegafarm.cosmic.harmonics import HarmonicConfig, identify_patterns
from omegafarm.cosmic.pivots import Pivots, ZigZagConfig, find_pivots

FIB_EVAL_RATIOS: tuple[float, ...] = (0.382, 0.5, 0.618, 0.786)
FIB_POOL = "fib_random_zones"


class LookAheadError(ValidationError):
    """A signal claims to be known before the last bar of data it was computed from."""


@dataclass(frozen=True)
class Signal:
    """A tradeable claim, entered at the close of ``known_at_bar``.

    ``uses_bars_through``: the last bar whose data the signal depends on (a pattern's D
    confirmation bar, a zone's touch bar). ``baseline``: the name of the market's placement
    pool it is compared with; empty means random bars of the same market and direction.
    """

    kind: str
    known_at_bar: int
    uses_bars_through: int
    direction: int  # +1: expect a rise from the zone, -1: a fall
    zone_low: float
    zone_high: float
    baseline: str = ""


@dataclass(frozen=True)
class Placement:
    """A baseline entry: bar and direction of a randomly placed zone, entered the same way."""

    bar: int
    direction: int


@dataclass(frozen=True)
class MarketSignals:
    """One market's candles, its signals, and its named baseline placement pools."""

    ohlcv: OhlcvInput
    signals: tuple[Signal, ...]
    pools: Mapping[str, tuple[Placement, ...]] = field(default_factory=dict)


def pattern_signals(ohlcv: OhlcvInput, config: HarmonicConfig | None = None) -> list[Signal]:
    """Completed harmonic patterns as signals entered at their D confirmation bar."""
    scan = identify_patterns(ohlcv, config)
    return [
        Signal(
            p.name,
            p.confirmed_index,
            p.confirmed_index,
            1 if p.direction == "bullish" else -1,
            float(min(p.prz)),
            float(max(p.prz)),
        )
        for p in scan.completed
    ]


def _first_touch(
    low: FloatArray, high: FloatArray, start: int, stop: int, zl: float, zh: float, up: bool
) -> int:
    """First bar in [start, stop) whose range reaches the zone from the swing's side; -1 if none."""
    seg = low[start:stop] <= zh if up else high[start:stop] >= zl
    hit = np.flatnonzero(seg)
    return start + int(hit[0]) if hit.size else -1


@dataclass(frozen=True)
class _Swing:
    p0: float
    p1: float
    conf: int
    stop: int
    seen: float  # farthest retracement price reached by the confirmation bar

    @property
    def up(self) -> bool:
        return self.p1 > self.p0

    def zone(self, ratio: float, width: float) -> tuple[float, float]:
        lo_r, hi_r = ratio - width / 2, ratio + width / 2
        a, b = self.p1 - lo_r * (self.p1 - self.p0), self.p1 - hi_r * (self.p1 - self.p0)
        return min(a, b), max(a, b)

    def touch(self, bars: Ohlcv, zl: float, zh: float) -> int:
        """Touch bar after confirmation; -1 if reached before it was known or never."""
        if (self.up and self.seen <= zh) or (not self.up and self.seen >= zl):
            return -1
        return _first_touch(bars.low, bars.high, self.conf + 1, self.stop, zl, zh, self.up)


def _swing(bars: Ohlcv, piv: Pivots, i: int, max_wait: int) -> _Swing:
    p0, p1 = float(piv.price[i - 1]), float(piv.price[i])
    end, conf = int(piv.index[i]), int(piv.confirmed_index[i])
    window = slice(end + 1, conf + 1)
    seen = (
        float(bars.low[window].min(initial=math.inf))
        if p1 > p0
        else float(bars.high[window].max(initial=-math.inf))
    )
    return _Swing(p0, p1, conf, min(len(bars), conf + 1 + max_wait), seen)


def fibonacci_signals(
    ohlcv: OhlcvInput,
    zigzag: ZigZagConfig | None = None,
    *,
    ratios: tuple[float, ...] = FIB_EVAL_RATIOS,
    width: float = 0.05,
    max_wait_bars: int = 96,
    n_baseline: int = 20,
    seed: int = 0,
) -> MarketSignals:
    """Retracement zones of each confirmed swing, entered when first touched after confirmation.

    A zone is ``ratio +- width/2`` of the swing (a 0.618 zone spans 0.593-0.643). A zone
    already reached between the swing's end and its confirmation is skipped (touched before it
    was known). Pool ``fib_random_zones``: per swing, ``n_baseline`` zones of the same width at
    uniform random ratios in [0.1, 0.9], entered the same way (an up-swing's zones expect +1).
    """
    bars = as_ohlcv(ohlcv)
    piv = find_pivots(bars.high, bars.low, bars.close, zigzag)
    rng = np.random.default_rng(seed)
    signals: list[Signal] = []
    pool: list[Placement] = []
    for i in range(1, len(piv)):
        sw = _swing(bars, piv, i, max_wait_bars)
        d = 1 if sw.up else -1
        for r in ratios:
            zl, zh = sw.zone(r, width)
            if (t := sw.touch(bars, zl, zh)) >= 0:
                signals.append(Signal(f"fib_{r:g}", t, t, d, zl, zh, FIB_POOL))
        for u in rng.uniform(0.1, 0.9, n_baseline).tolist():
            if (t := sw.touch(bars, *sw.zone(u, width))) >= 0:
                pool.append(Placement(t, d))
    signals.sort(key=lambda s: (s.known_at_bar, s.kind))
    pool.sort(key=lambda p: p.bar)
    return MarketSignals(bars, tuple(signals), {FIB_POOL: tuple(pool)})

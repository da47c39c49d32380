"""Raw outcomes of cycle projections, for the evidence harness (statistics live there).

Two questions, asked at every ``every``-th bar from the causal per-bar track (a bar only sees
windows that ended at or before it):

* direction: does the projected cycle (past a trough: up; past a crest: down) call the sign of
  the return over the horizon better than momentum over the same horizon?
* timing: is the next zig-zag turning point of the projected kind (crest or trough) within a
  quarter period of the projected bar more often than a naive projection from momentum (rose
  over the last quarter period: a crest a quarter period ahead; fell: a trough)?

The realised turning points come from the zig-zag of the whole series: they are the outcome
being scored, never an input to the projection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from omegafarm.cosmic._ohlcv import FloatArray, Ohlcv
from omegafarm.cosmic.cycles import cycle_track
from omegafarm.cosmic.pivots import PIVOT_HIGH, ZigZagConfig, find_pivots


@dataclass(frozen=True)
class CycleOutcomes:
    """Per evaluation bar: net returns (cycle direction, momentum) and timing hits."""

    cycle_net: FloatArray
    momentum_net: FloatArray
    timing_hit: FloatArray  # 1.0 when the realised turn is within P/4 of the projected one
    timing_base: FloatArray  # the same for the naive momentum projection


def _empty() -> CycleOutcomes:
    e = np.empty(0)
    return CycleOutcomes(e, e, e, e)


def cycle_outcomes(
    bars: Ohlcv,
    *,
    horizon: int,
    cost: float,
    window: int = 128,
    every: int = 12,
    zigzag: ZigZagConfig | None = None,
) -> CycleOutcomes:
    """Direction and timing outcomes of the cycle track's projections on one market."""
    close = bars.close
    n = close.size
    if n < window + 2 * horizon + 1:
        return _empty()
    track = cycle_track(close, window=window, step=1)
    t = np.arange(window - 1 + horizon, n - horizon, every)
    t = t[np.isfinite(track.period[t])]
    if t.size == 0:
        return _empty()
    ph, per = track.phase[t], track.period[t]
    forecast = np.where(np.cos(ph + 2 * np.pi * horizon / per) >= np.cos(ph), 1.0, -1.0)
    momentum = np.where(close[t] >= close[t - horizon], 1.0, -1.0)
    fwd = close[t + horizon] / close[t] - 1.0
    hit, base = _timing(bars, t, ph, per, zigzag)
    return CycleOutcomes(forecast * fwd - cost, momentum * fwd - cost, hit, base)


def _next_turn(turns: npt.NDArray[np.int64], t: int) -> float:
    """Bars from ``t`` to the first turn after it, or NaN when none follows."""
    k = int(np.searchsorted(turns, t, side="right"))
    return float(turns[k] - t) if k < turns.size else math.nan


def _timing(
    bars: Ohlcv,
    t: npt.NDArray[np.int64],
    ph: FloatArray,
    per: FloatArray,
    zigzag: ZigZagConfig | None,
) -> tuple[FloatArray, FloatArray]:
    """Timing hits of the projected next turn, and of the naive momentum projection.

    Naive: price rose over the last quarter period, so the next turn is a crest a quarter
    period ahead (fell: a trough). It uses the same past bars as the cycle, only less cleverly;
    a random phase would be too weak a baseline, because zig-zag turns depend on the recent
    path even in a random walk.
    """
    piv = find_pivots(bars.high, bars.low, bars.close, zigzag)
    turns = {True: piv.index[piv.kind == PIVOT_HIGH], False: piv.index[piv.kind != PIVOT_HIGH]}
    to_peak = np.mod(-ph, 2 * np.pi) / (2 * np.pi) * per
    to_trough = np.mod(np.pi - ph, 2 * np.pi) / (2 * np.pi) * per
    want_peak = to_peak <= to_trough
    ahead = np.where(want_peak, to_peak, to_trough)
    close = bars.close
    hits, bases = [], []
    for ti, a, p, peak in zip(
        t.tolist(), ahead.tolist(), per.tolist(), want_peak.tolist(), strict=True
    ):
        q = p / 4
        rising = bool(close[ti] >= close[max(0, ti - max(1, round(q)))])
        actual, naive = _next_turn(turns[peak], ti), _next_turn(turns[rising], ti)
        if math.isnan(actual) or math.isnan(naive):
            continue  # no realised turn of that kind after this bar: nothing to score
        hits.append(float(abs(actual - a) <= q))
        bases.append(float(abs(naive - q) <= q))
    return np.asarray(hits), np.asarray(bases)

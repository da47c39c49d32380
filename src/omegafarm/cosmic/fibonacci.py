"""Fibonacci retracements, extensions, A-B-C projections and confluence zones.

For a swing from A (``start``) to B (``end``):

* retracement ``r`` is ``B - r·(B - A)``: 0 sits on B, 1 on A (where a pull-back may stop);
* extension ``e`` is ``A + e·(B - A)``: beyond B in the swing's direction (where a trend that
  resumes may stop; TradingView's "trend-based" reading with C = A);
* an A-B-C projection ``p`` is ``C + p·(B - A)`` (TradingView's "Trend-Based Fib Extension").

On a ``log`` scale the same formulas apply to log prices (what TradingView's log chart draws),
so the 0.5 level of a swing 100 → 400 is 200, not 250. Prices must then be positive.

A confluence zone is a narrow price band where levels of several recent swings cluster; its
``strength`` is the number of distinct swings with a level inside it. Whether zones predict
reversals is measured by the evaluation harness, not assumed here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from omegafarm.core.errors import ValidationError
from omegafarm.cosmic._ohlcv import OhlcvInput, as_ohlcv
from omegafarm.cosmic.pivots import Pivots, ZigZagConfig, find_pivots

RETRACEMENTS: tuple[float, ...] = (0.0, 0.236, 0.382, 0.5, 0.618, 0.786, 1.0)
EXTENSIONS: tuple[float, ...] = (1.272, 1.414, 1.618, 2.0, 2.618, 3.618, 4.236)
PROJECTIONS: tuple[float, ...] = (0.618, 1.0, *EXTENSIONS)

Scale = Literal["linear", "log"]
LevelKind = Literal["retracement", "extension", "projection"]


@dataclass(frozen=True)
class FibLevel:
    """One level: its ratio, price and kind; ``swing`` numbers the swing it came from."""

    ratio: float
    price: float
    kind: LevelKind
    swing: int = 0


@dataclass(frozen=True)
class FibLevels:
    """All levels of one swing A → B (and of the A-B-C projection when C is given)."""

    start: float
    end: float
    third: float | None
    scale: Scale
    retracements: tuple[FibLevel, ...]
    extensions: tuple[FibLevel, ...]
    projections: tuple[FibLevel, ...]

    def all(self) -> tuple[FibLevel, ...]:
        """Every level, retracements first."""
        return self.retracements + self.extensions + self.projections


@dataclass(frozen=True)
class ConfluenceZone:
    """A price band where levels of several swings cluster."""

    low: float
    high: float
    center: float
    strength: int  # distinct swings with a level in the band
    levels: tuple[FibLevel, ...]


@dataclass(frozen=True)
class FibAnalysis:
    """Levels of the latest confirmed swing plus confluence zones of recent swings."""

    last_swing: FibLevels | None
    zones: tuple[ConfluenceZone, ...]


def _to_space(prices: list[float], scale: Scale) -> list[float]:
    if scale == "linear":
        return prices
    if scale != "log":
        raise ValidationError(f"scale must be 'linear' or 'log', got {scale!r}")
    if min(prices) <= 0:
        raise ValidationError("log-scale Fibonacci levels need positive prices")
    return [math.log(p) for p in prices]


def _from_space(value: float, scale: Scale) -> float:
    return math.exp(value) if scale == "log" else value


def fibonacci_levels(
    start: float,
    end: float,
    third: float | None = None,
    *,
    scale: Scale = "linear",
    swing: int = 0,
) -> FibLevels:
    """Retracements and extensions of the swing start → end, plus A-B-C projections from third."""
    given = [start, end] + ([] if third is None else [third])
    if not all(math.isfinite(p) for p in given):
        raise ValidationError("swing prices must be finite")
    space = _to_space([float(p) for p in given], scale)
    a, b = space[0], space[1]
    move = b - a
    ret = tuple(
        FibLevel(r, _from_space(b - r * move, scale), "retracement", swing) for r in RETRACEMENTS
    )
    ext = tuple(
        FibLevel(e, _from_space(a + e * move, scale), "extension", swing) for e in EXTENSIONS
    )
    proj: tuple[FibLevel, ...] = ()
    if third is not None:
        c = space[2]
        proj = tuple(
            FibLevel(p, _from_space(c + p * move, scale), "projection", swing) for p in PROJECTIONS
        )
    return FibLevels(float(start), float(end), third, scale, ret, ext, proj)


def swing_levels(
    pivots: Pivots, swings: int = 8, *, scale: Scale = "linear", first_swing: int = 0
) -> list[FibLevel]:
    """Levels of the last ``swings`` pivot-to-pivot swings (retracements strictly inside,
    extensions, projections from each following pivot); swings are numbered from
    ``first_swing`` (the position of ``pivots[0]`` in a longer pivot list)."""
    n = len(pivots)
    if n < 2:
        return []
    prices = pivots.price.tolist()
    if scale == "log" and min(prices) <= 0:
        return []
    out: list[FibLevel] = []
    first = max(0, n - 1 - swings)
    for k in range(first, n - 1):
        third = prices[k + 2] if k + 2 < n else None
        lv = fibonacci_levels(prices[k], prices[k + 1], third, scale=scale, swing=first_swing + k)
        out.extend(x for x in lv.retracements if 0.0 < x.ratio < 1.0)
        out.extend(lv.extensions)
        out.extend(lv.projections)
    return out


def confluence_zones(
    levels: list[FibLevel], *, width: float = 0.002, min_strength: int = 2
) -> tuple[ConfluenceZone, ...]:
    """Cluster levels whose prices lie within ``width`` (a fraction of price) of a zone's low."""
    if width <= 0:
        raise ValidationError(f"confluence width must be > 0, got {width}")
    ordered = sorted((lv for lv in levels if lv.price > 0), key=lambda lv: lv.price)
    zones: list[ConfluenceZone] = []
    i = 0
    while i < len(ordered):
        j = i + 1
        limit = ordered[i].price * (1.0 + width)
        while j < len(ordered) and ordered[j].price <= limit:
            j += 1
        members = tuple(ordered[i:j])
        strength = len({m.swing for m in members})
        if strength >= min_strength:
            prices = [m.price for m in members]
            zones.append(
                ConfluenceZone(
                    min(prices), max(prices), sum(prices) / len(prices), strength, members
                )
            )
        i = j
    zones.sort(key=lambda z: (-z.strength, z.center))
    return tuple(zones)


def fibonacci_analysis(
    ohlcv: OhlcvInput,
    *,
    zigzag: ZigZagConfig | None = None,
    swings: int = 8,
    width: float = 0.002,
    scale: Scale = "linear",
) -> FibAnalysis:
    """Levels of the last confirmed swing and confluence zones of the last ``swings`` swings."""
    bars = as_ohlcv(ohlcv)
    if len(bars) == 0:
        return FibAnalysis(None, ())
    piv = find_pivots(bars.high, bars.low, bars.close, zigzag)
    return analysis_from_pivots(piv, swings=swings, width=width, scale=scale)


def analysis_from_pivots(
    pivots: Pivots,
    *,
    swings: int = 8,
    width: float = 0.002,
    scale: Scale = "linear",
    first_swing: int = 0,
) -> FibAnalysis:
    """:func:`fibonacci_analysis` on known pivots (``first_swing``: see :func:`swing_levels`)."""
    n = len(pivots)
    if n < 2 or (scale == "log" and float(pivots.price.min()) <= 0):
        return FibAnalysis(None, ())
    last = fibonacci_levels(
        float(pivots.price[-2]), float(pivots.price[-1]), scale=scale, swing=first_swing + n - 2
    )
    levels = swing_levels(pivots, swings, scale=scale, first_swing=first_swing)
    zones = confluence_zones(levels, width=width)
    return FibAnalysis(last, zones)

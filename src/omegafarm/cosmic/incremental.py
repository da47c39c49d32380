"""Incremental analysis: append one candle, update pivots, patterns and levels in microseconds.

:class:`CosmicStream` keeps the zig-zag state machine, the completed patterns and the
forming candidates. Appending a candle advances the zig-zag by one bar (a few microseconds);
only when a new pivot is confirmed does it look at the pivot windows that end there (a
handful of pivots) and mark the Fibonacci levels stale; they are recomputed from the last
swings when next read. Nothing is ever recomputed over the whole history, and the result
equals the batch scan (:func:`~omegafarm.cosmic.harmonics.identify_patterns`) on the same
candles; a test pins that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from omegafarm.core.errors import ValidationError
from omegafarm.cosmic._ohlcv import FloatArray, OhlcvInput, as_ohlcv
from omegafarm.cosmic.fibonacci import FibAnalysis, Scale, analysis_from_pivots
from omegafarm.cosmic.harmonics import (
    HarmonicConfig,
    Pattern,
    PatternScan,
    RatioTable,
    forming_candidates,
    load_ratio_table,
    scan_pivots,
    still_forming,
)
from omegafarm.cosmic.pivots import Pivots, ZigZag

_WINDOW = 5  # pivots in an XABCD window


@dataclass(frozen=True)
class StreamUpdate:
    """What one append (or extend) changed."""

    bars: int
    new_pivots: int
    new_patterns: tuple[Pattern, ...]


class CosmicStream:
    """Pivots, harmonic patterns and Fibonacci levels kept up to date candle by candle."""

    def __init__(
        self,
        config: HarmonicConfig | None = None,
        table: RatioTable | None = None,
        *,
        fib_swings: int = 8,
        fib_width: float = 0.002,
        fib_scale: Scale = "linear",
    ) -> None:
        self._config = config or HarmonicConfig()
        self._table = (table or load_ratio_table()).select(self._config.patterns)
        self._zz = ZigZag(self._config.zigzag)
        self._completed: list[Pattern] = []
        self._candidates: list[Pattern] = []
        self._fib: FibAnalysis | None = FibAnalysis(None, ())
        self._fib_swings, self._fib_width, self._fib_scale = fib_swings, fib_width, fib_scale
        self._last_ts = -math.inf

    # ------------------------------------------------------------------ input
    def extend(self, ohlcv: OhlcvInput) -> StreamUpdate:
        """Append many candles at once (e.g. the history); same result as appending each."""
        bars = as_ohlcv(ohlcv)
        if len(bars) == 0:
            return StreamUpdate(self._zz.bars, 0, ())
        if bars.ts_ms[0] <= self._last_ts:
            raise ValidationError("candle timestamps must increase across appends")
        new = self._zz.feed(bars.high, bars.low, bars.close)
        self._last_ts = float(bars.ts_ms[-1])
        return self._after(new)

    def append(self, candle: Sequence[float] | FloatArray) -> StreamUpdate:
        """Append one candle ``[timestamp_ms, open, high, low, close, volume]``."""
        row = candle.tolist() if isinstance(candle, np.ndarray) else list(candle)
        if len(row) != 6:
            raise ValidationError(f"a candle has 6 fields, got {len(row)}")
        ts, high, low, close = float(row[0]), float(row[2]), float(row[3]), float(row[4])
        if not (math.isfinite(high) and math.isfinite(low) and math.isfinite(close)):
            raise ValidationError("candle contains NaN or infinite values")
        if high < low:
            raise ValidationError("candle high < low")
        if ts <= self._last_ts:
            raise ValidationError("candle timestamps must increase across appends")
        self._last_ts = ts
        new = self._zz.push(high, low, close)
        return self._after(new) if new else StreamUpdate(self._zz.bars, 0, ())

    def _after(self, new_pivots: int) -> StreamUpdate:
        if not new_pivots:
            return StreamUpdate(self._zz.bars, 0, ())
        n = len(self._zz.pivots_index)
        first_new = n - new_pivots
        start = max(0, first_new - (_WINDOW - 1))
        window = self._tail(start)
        found = scan_pivots(
            window, self._table, tolerance=self._config.tolerance, first_d=first_new - start
        )
        self._completed.extend(found)
        tail_start = max(0, n - _WINDOW + 1)
        self._candidates = forming_candidates(
            self._tail(tail_start), self._table, tolerance=self._config.tolerance
        )
        self._fib = None  # recomputed from the last swings when first read
        return StreamUpdate(self._zz.bars, new_pivots, tuple(found))

    def _tail(self, start: int) -> Pivots:
        zz = self._zz
        return Pivots(
            np.asarray(zz.pivots_index[start:], dtype=np.int64),
            np.asarray(zz.pivots_confirmed[start:], dtype=np.int64),
            np.asarray(zz.pivots_price[start:], dtype=np.float64),
            np.asarray(zz.pivots_kind[start:], dtype=np.int8),
        )

    # ------------------------------------------------------------------ views
    @property
    def bars(self) -> int:
        """Candles consumed so far."""
        return self._zz.bars

    @property
    def pivots(self) -> Pivots:
        """All confirmed pivots."""
        return self._zz.pivots()

    @property
    def completed(self) -> tuple[Pattern, ...]:
        """Completed patterns, in the order they became known."""
        return tuple(self._completed)

    @property
    def forming(self) -> tuple[Pattern, ...]:
        """Patterns waiting for D whose current leg has not overshot the PRZ."""
        pending = self._zz.pending()
        return tuple(p for p in self._candidates if still_forming(p, pending))

    @property
    def levels(self) -> FibAnalysis:
        """Fibonacci levels of the last swing and confluence zones of recent swings."""
        if self._fib is None:
            n = len(self._zz.pivots_index)
            fib_start = max(0, n - self._fib_swings - 2)
            self._fib = analysis_from_pivots(
                self._tail(fib_start),
                swings=self._fib_swings,
                width=self._fib_width,
                scale=self._fib_scale,
                first_swing=fib_start,
            )
        return self._fib

    def scan(self) -> PatternScan:
        """The current state in the shape of the batch scan's result."""
        return PatternScan(self.completed, self.forming, self.pivots, self._table.version)

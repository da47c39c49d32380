"""Swing pivots: a zig-zag detector with no look-ahead, the ground every cosmic tool stands on.

A pivot high is the highest high of an up-leg; it becomes *known* only at the bar where price
has since fallen by more than the threshold below it. Each pivot therefore carries two bar
indexes: ``index`` (where the extreme was) and ``confirmed_index`` (the first bar at whose close
the pivot is certain). Anything that trades on a pivot must act at ``confirmed_index``.

The threshold is either a fraction of the extreme price (``mode="percent"``) or a multiple of
Wilder's average true range at the confirming bar (``mode="atr"``, computed from past bars
only). Conventions, chosen so every result is deterministic from bars up to the current one:

* on a bar that makes a new extreme, its other side (its low in an up-leg) is ignored, because
  the order of high and low inside one candle is unknown;
* reversal is tested with the most extreme opposite price seen since the extreme, against the
  threshold at the current bar;
* highs and lows are used (not closes), so pivots sit on real extremes.

The detector is one tight pass in Python over plain floats (numba is not available); the same
state machine runs the batch scan and the incremental ``update`` so both agree exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from omegafarm.core.errors import ValidationError
from omegafarm.cosmic._ohlcv import FloatArray, IntArray, OhlcvInput, as_ohlcv

PIVOT_HIGH = 1
PIVOT_LOW = -1
_INF = math.inf
_CHUNK = 32_768  # bars converted to Python floats at a time


@dataclass(frozen=True)
class ZigZagConfig:
    """Threshold of the zig-zag: ``percent`` (fraction of price) or ``atr`` (multiple of ATR)."""

    mode: Literal["atr", "percent"] = "atr"
    threshold: float = 3.0
    atr_period: int = 14

    def __post_init__(self) -> None:
        if self.mode not in ("atr", "percent"):
            raise ValidationError(f"zig-zag mode must be 'atr' or 'percent', got {self.mode!r}")
        if not (math.isfinite(self.threshold) and self.threshold > 0):
            raise ValidationError(f"zig-zag threshold must be > 0, got {self.threshold}")
        if self.mode == "percent" and self.threshold >= 1:
            raise ValidationError("percent threshold is a fraction (0.02 = 2 %), must be < 1")
        if self.atr_period < 1:
            raise ValidationError(f"atr_period must be >= 1, got {self.atr_period}")


@dataclass(frozen=True)
class Pivots:
    """Confirmed pivots, alternating high/low, as aligned arrays (one entry per pivot)."""

    index: IntArray
    confirmed_index: IntArray
    price: FloatArray
    kind: npt.NDArray[np.int8]  # +1 high, -1 low

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pivots):
            return NotImplemented
        return all(
            np.array_equal(getattr(self, f), getattr(other, f))
            for f in ("index", "confirmed_index", "price", "kind")
        )

    __hash__ = None  # type: ignore[assignment]  # arrays are mutable: not hashable

    def known_at(self, bar: int) -> Pivots:
        """The pivots known at the close of ``bar`` (confirmed at or before it)."""
        n = int(np.searchsorted(self.confirmed_index, bar, side="right"))
        return Pivots(self.index[:n], self.confirmed_index[:n], self.price[:n], self.kind[:n])


def empty_pivots() -> Pivots:
    """A pivot set with no pivots."""
    return Pivots(
        np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0, np.int8)
    )


def true_range(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    """Wilder's true range; the first bar's is its high minus low."""
    tr = high - low
    if tr.size > 1:
        prev = close[:-1]
        tr[1:] = np.maximum(tr[1:], np.maximum(np.abs(high[1:] - prev), np.abs(low[1:] - prev)))
    return tr


def average_true_range(
    high: FloatArray, low: FloatArray, close: FloatArray, period: int = 14
) -> FloatArray:
    """Wilder's ATR from past bars only; NaN until ``period`` bars exist (seed = their mean)."""
    tr = true_range(high, low, close)
    out = np.full(tr.shape, np.nan)
    if tr.size < period:
        return out
    seed = math.fsum(tr[:period].tolist()) / period
    out[period - 1] = seed
    if tr.size > period:
        a = 1.0 - 1.0 / period
        from scipy.signal import lfilter  # imported here: scipy.signal costs ~1 s at start-up

        rest, _ = lfilter([1.0 / period], [1.0, -a], tr[period:], zi=[a * seed])
        out[period:] = rest
    return out


@dataclass
class ZigZag:
    """The zig-zag state machine; feed bars in order with :meth:`feed` (batch or one at a time)."""

    config: ZigZagConfig = field(default_factory=ZigZagConfig)
    bars: int = 0
    trend: int = 0  # 0 unknown, +1 tracking a high, -1 tracking a low
    hi: float = -_INF
    hi_i: int = -1
    lo: float = _INF
    lo_i: int = -1
    opp: float = 0.0  # most extreme opposite price since the current extreme
    opp_i: int = -1
    pivots_index: list[int] = field(default_factory=list)
    pivots_confirmed: list[int] = field(default_factory=list)
    pivots_price: list[float] = field(default_factory=list)
    pivots_kind: list[int] = field(default_factory=list)
    # incremental ATR state
    _prev_close: float = math.nan
    _atr: float = math.nan
    _tr_seed: list[float] = field(default_factory=list)

    # ------------------------------------------------------------------ thresholds
    def thresholds(self, high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
        """Absolute thresholds per bar (ATR mode) or zeros (percent mode); advances ATR state."""
        n = high.shape[0]
        if self.config.mode == "percent":
            return np.zeros(n)
        if self.bars == 0 and n > 1:
            atr = average_true_range(high, low, close, self.config.atr_period)
            self._set_atr_state(high, low, close, atr)
            thr: FloatArray = np.nan_to_num(atr, nan=_INF) * self.config.threshold
            return thr
        k = self.config.threshold
        steps = zip(high.tolist(), low.tolist(), close.tolist(), strict=True)
        return np.array([self._atr_step(h, lo, c) * k for h, lo, c in steps], dtype=np.float64)

    def _atr_step(self, h: float, lo: float, c: float) -> float:
        p = self.config.atr_period
        pc = self._prev_close
        tr = h - lo if math.isnan(pc) else max(h - lo, abs(h - pc), abs(lo - pc))
        self._prev_close = c
        if math.isnan(self._atr):
            self._tr_seed.append(tr)
            if len(self._tr_seed) < p:
                return _INF
            self._atr = math.fsum(self._tr_seed) / p
            self._tr_seed = []
            return self._atr
        a = 1.0 - 1.0 / p
        self._atr = (1.0 / p) * tr + a * self._atr
        return self._atr

    def _set_atr_state(
        self, high: FloatArray, low: FloatArray, close: FloatArray, atr: FloatArray
    ) -> None:
        self._prev_close = float(close[-1])
        if math.isnan(atr[-1]):
            self._tr_seed = true_range(high.copy(), low, close).tolist()
        else:
            self._atr = float(atr[-1])

    # ------------------------------------------------------------------ the pass
    def feed(self, high: FloatArray, low: FloatArray, close: FloatArray) -> int:
        """Consume bars; return how many new pivots were confirmed."""
        before = len(self.pivots_index)
        thr = self.thresholds(high, low, close)
        start, n = self.bars, high.shape[0]
        for c0 in range(0, n, _CHUNK):  # chunks keep the float lists small and cache-warm
            c1 = min(n, c0 + _CHUNK)
            hs, ls, ts = high[c0:c1].tolist(), low[c0:c1].tolist(), thr[c0:c1].tolist()
            j0 = self._feed_unknown(hs, ls, ts, start + c0) if self.trend == 0 else 0
            if j0 < len(hs):
                self._feed_trend(hs, ls, ts, start + c0, j0)
        self.bars = start + n
        return len(self.pivots_index) - before

    def push(self, high: float, low: float, close: float) -> int:
        """Consume one bar given as floats (the incremental fast path); return new pivots."""
        before = len(self.pivots_index)
        if self.config.mode == "percent":
            thr = 0.0
        else:
            thr = self._atr_step(high, low, close) * self.config.threshold
        hs, ls, ts = [high], [low], [thr]
        if self.trend == 0:  # the unknown phase consumes the bar, pivot or not
            self._feed_unknown(hs, ls, ts, self.bars)
        else:
            self._feed_trend(hs, ls, ts, self.bars, 0)
        self.bars += 1
        return len(self.pivots_index) - before

    def _feed_unknown(self, hs: list[float], ls: list[float], thr: list[float], start: int) -> int:
        """Before the first pivot: track both extremes until their range exceeds the threshold."""
        pct = self.config.threshold if self.config.mode == "percent" else 0.0
        for j in range(len(hs)):
            g = start + j
            if hs[j] > self.hi:
                self.hi, self.hi_i = hs[j], g
            if ls[j] < self.lo:
                self.lo, self.lo_i = ls[j], g
            if self.hi_i < self.lo_i and self.lo < self.hi * (1.0 - pct) - thr[j]:
                self._emit(self.hi_i, g, self.hi, PIVOT_HIGH)
                self.trend, self.opp, self.opp_i = -1, -_INF, -1
                return j + 1
            if self.lo_i < self.hi_i and self.hi > self.lo * (1.0 + pct) + thr[j]:
                self._emit(self.lo_i, g, self.lo, PIVOT_LOW)
                self.trend, self.opp, self.opp_i = 1, _INF, -1
                return j + 1
        return len(hs)

    def _feed_trend(
        self, hs: list[float], ls: list[float], thr: list[float], start: int, j0: int
    ) -> None:
        pct = self.config.threshold if self.config.mode == "percent" else 0.0
        mu, md = 1.0 - pct, 1.0 + pct
        trend, hi, hi_i, lo, lo_i = self.trend, self.hi, self.hi_i, self.lo, self.lo_i
        opp, opp_i = self.opp, self.opp_i
        idx, conf, price, kind = (
            self.pivots_index,
            self.pivots_confirmed,
            self.pivots_price,
            self.pivots_kind,
        )
        for j in range(j0, len(hs)):
            if trend == 1:
                h = hs[j]
                if h > hi:
                    hi, hi_i, opp = h, start + j, _INF
                    continue
                lw = ls[j]
                if lw < opp:
                    opp, opp_i = lw, start + j
                if opp < hi * mu - thr[j]:
                    idx.append(hi_i)
                    conf.append(start + j)
                    price.append(hi)
                    kind.append(1)
                    trend, lo, lo_i, opp = -1, opp, opp_i, -_INF
            else:
                lw = ls[j]
                if lw < lo:
                    lo, lo_i, opp = lw, start + j, -_INF
                    continue
                h = hs[j]
                if h > opp:
                    opp, opp_i = h, start + j
                if opp > lo * md + thr[j]:
                    idx.append(lo_i)
                    conf.append(start + j)
                    price.append(lo)
                    kind.append(-1)
                    trend, hi, hi_i, opp = 1, opp, opp_i, _INF
        self.trend, self.hi, self.hi_i, self.lo, self.lo_i = trend, hi, hi_i, lo, lo_i
        self.opp, self.opp_i = opp, opp_i

    def _emit(self, index: int, confirmed: int, price: float, kind: int) -> None:
        self.pivots_index.append(index)
        self.pivots_confirmed.append(confirmed)
        self.pivots_price.append(price)
        self.pivots_kind.append(kind)

    # ------------------------------------------------------------------ views
    def pivots(self) -> Pivots:
        """The confirmed pivots so far, as arrays."""
        return Pivots(
            np.asarray(self.pivots_index, dtype=np.int64),
            np.asarray(self.pivots_confirmed, dtype=np.int64),
            np.asarray(self.pivots_price, dtype=np.float64),
            np.asarray(self.pivots_kind, dtype=np.int8),
        )

    def pending(self) -> tuple[int, float, int] | None:
        """The unconfirmed extreme of the current leg: (bar index, price, kind), if any."""
        if self.trend == 1:
            return self.hi_i, self.hi, PIVOT_HIGH
        if self.trend == -1:
            return self.lo_i, self.lo, PIVOT_LOW
        return None


def find_pivots(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike | None = None,
    config: ZigZagConfig | None = None,
) -> Pivots:
    """Zig-zag pivots of a high/low series (close is needed for ATR mode; default: midpoints)."""
    h = np.ascontiguousarray(high, dtype=np.float64)
    lw = np.ascontiguousarray(low, dtype=np.float64)
    c = (h + lw) / 2.0 if close is None else np.ascontiguousarray(close, dtype=np.float64)
    if h.ndim != 1 or h.shape != lw.shape or h.shape != c.shape:
        raise ValidationError("high, low and close must be 1-D arrays of the same length")
    if not (np.isfinite(h).all() and np.isfinite(lw).all() and np.isfinite(c).all()):
        raise ValidationError("high, low and close must be finite")
    if h.size == 0:
        return empty_pivots()
    zz = ZigZag(config or ZigZagConfig())
    zz.feed(h, lw, c)
    return zz.pivots()


def pivots_from_ohlcv(ohlcv: OhlcvInput, config: ZigZagConfig | None = None) -> Pivots:
    """Zig-zag pivots of candles (``(n, 6)`` array or DataFrame)."""
    bars = as_ohlcv(ohlcv)
    if len(bars) == 0:
        return empty_pivots()
    return find_pivots(bars.high, bars.low, bars.close, config)

"""Candles a strategy sees: numpy columns up to "now", and indicators computed over them.

One class serves both modes. A backtest loads the whole history once and moves ``stop`` (the
number of closed bars visible) forward bar by bar, so reading ``feed.close`` is an O(1) numpy
view and never shows a bar that has not closed. A live bot appends each closed candle to a
bounded buffer. Indicators are computed by a *causal* function (output ``i`` depends only on
inputs ``0..i``): a backtest computes it once over the full history and reveals it bar by bar
(the trick that makes backtesting.py fast), a live bot recomputes it after every append. An
indicator whose output ``i`` depends only on the last ``w`` inputs (a *window*: ``sma``, see
:func:`window_of`) is extended instead: a live append computes it over the last ``w`` bars only
(the same values: each is a function of its own window), not over the whole buffer again.
"""

from __future__ import annotations

import collections
import itertools
import math
from collections.abc import Callable, Iterable
from operator import lshift, sub, truediv
from typing import Any

import numpy as np
import numpy.typing as npt

from omegafarm.core.errors import ValidationError

F64 = npt.NDArray[np.float64]
COLUMNS = ("ts_ms", "open", "high", "low", "close", "volume")


class CandleFeed:
    """Closed candles of one symbol as float64 columns; ``stop`` bars are visible."""

    def __init__(
        self,
        matrix: F64 | None = None,
        *,
        capacity: int = 2000,
        full: bool = False,
        key: object = None,
    ):
        data = np.empty((0, 6)) if matrix is None else np.asarray(matrix, dtype=np.float64)
        if data.ndim != 2 or data.shape[1] != 6:
            raise ValidationError("candles must be an (n, 6) array: ts_ms, o, h, l, c, v")
        self.capacity = max(capacity, 16)
        self.full = full  # the whole history is loaded up front (backtest)
        # names the history (a backtest's data file): indicators over the same history are
        # computed once per process and shared (a grid runs many strategies on one file)
        self.key = key
        self._cols = [np.ascontiguousarray(data[:, k]) for k in range(6)]
        self.stop = data.shape[0] if not full else 0
        self.version = 0
        self.dropped = 0  # rows dropped from the front (a live buffer that grew full)

    # ----------------------------------------------------------------- columns (views)
    @property
    def ts_ms(self) -> F64:
        return self._cols[0][: self.stop]

    @property
    def open(self) -> F64:
        return self._cols[1][: self.stop]

    @property
    def high(self) -> F64:
        return self._cols[2][: self.stop]

    @property
    def low(self) -> F64:
        return self._cols[3][: self.stop]

    @property
    def close(self) -> F64:
        return self._cols[4][: self.stop]

    @property
    def volume(self) -> F64:
        return self._cols[5][: self.stop]

    def column(self, name: str, *, full: bool = False) -> F64:
        """A column by name (``full``: including bars not yet visible, for precomputation)."""
        if name not in COLUMNS:
            raise ValidationError(f"unknown candle column {name!r}; one of {', '.join(COLUMNS)}")
        col = self._cols[COLUMNS.index(name)]
        return col if full else col[: self.stop]

    def matrix(self, last: int | None = None) -> F64:
        """The visible candles (the last ``last`` of them) as an (n, 6) matrix."""
        start = 0 if last is None else max(0, self.stop - last)
        return np.column_stack([c[start : self.stop] for c in self._cols])

    def __len__(self) -> int:
        return self.stop

    def last_close(self) -> float:
        """Close of the latest visible bar (NaN before any)."""
        return float(self._cols[4][self.stop - 1]) if self.stop else math.nan

    # ----------------------------------------------------------------- moving forward
    def reveal(self, stop: int) -> None:
        """Backtest: make bars ``[0, stop)`` visible."""
        self.stop = stop
        self.version += 1

    def append(self, candle: list[float] | tuple[float, ...] | F64) -> bool:
        """Live: add one closed candle; False (and nothing changes) if it is not newer."""
        row = [float(x) for x in candle]
        if self.stop and row[0] <= self._cols[0][self.stop - 1]:
            return False
        if self.stop >= self._cols[0].shape[0]:
            keep = min(self.stop, self.capacity - 1)
            size = max(self.capacity, 16)
            self._cols = [_regrow(c[self.stop - keep : self.stop], size) for c in self._cols]
            self.dropped += self.stop - keep
            self.stop = keep
        for k in range(6):
            self._cols[k][self.stop] = row[k]
        self.stop += 1
        self.version += 1
        return True


def _regrow(tail: F64, size: int) -> F64:
    out = np.empty(size, dtype=np.float64)
    out[: tail.shape[0]] = tail
    return out


IndicatorFn = Callable[..., Any]
# fn -> (args, kwargs) -> its window w (output i depends on inputs i-w+1..i only), or None
_WINDOWS: dict[IndicatorFn, Callable[[tuple[Any, ...], dict[str, Any]], int | None]] = {}


def window_of(fn: IndicatorFn, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int | None:
    """The window of ``fn`` called with these arguments (None: unknown, recompute it all)."""
    rule = _WINDOWS.get(fn)
    if rule is None or any(not isinstance(a, str | int | float) for a in (*args, *kwargs.values())):
        return None  # an array argument is not a column of the feed: recompute it all
    try:
        w = rule(args, kwargs)
    except (IndexError, KeyError, TypeError, ValueError):
        return None
    return w if w is not None and w >= 1 else None


_MEMO: dict[tuple[Any, ...], tuple[F64, list[float]]] = {}
_MEMO_MAX_VALUES = 4_000_000  # ~130 MB (array + list of floats); then start again


class Indicator:
    """A causal indicator over a feed: ``ind[-1]`` is its value at the latest closed bar."""

    __slots__ = ("_args", "_end", "_feed", "_fn", "_kwargs", "_list", "_live", "_step",
                 "_values", "_version", "_window")  # fmt: skip

    def __init__(self, feed: CandleFeed, fn: IndicatorFn, args: tuple[Any, ...], kwargs: Any):
        self._feed, self._fn, self._args, self._kwargs = feed, fn, args, kwargs
        self._version = -1
        self._values: F64 = np.empty(0)
        self._list: list[float] | None = None
        # live and windowed: the visible values as floats, extended bar by bar (_end: the
        # feed's dropped + stop they were computed up to)
        self._window = None if feed.full else window_of(fn, args, dict(kwargs))
        self._live: list[float] | None = None
        self._end = 0
        # sma of a column: the next value from the window's running exact sum (one new bar)
        self._step = (
            _SlidingMean(self._window, args[0])
            if self._window is not None and fn is sma and args and isinstance(args[0], str)
            else None
        )
        if feed.full:
            self._values, self._list = self._precomputed()
            self._version = -2  # never recomputed

    def _precomputed(self) -> tuple[F64, list[float]]:
        """The whole history's values (plain floats too: the per-bar read is a list index),
        shared by every indicator with the same function and arguments on the same history."""
        try:
            memo_key = (self._feed.key, self._fn, self._args, tuple(sorted(self._kwargs.items())))
            hash(memo_key)
        except TypeError:  # unhashable arguments (an array): compute, do not share
            memo_key = None
        if self._feed.key is not None and memo_key is not None and memo_key in _MEMO:
            return _MEMO[memo_key]
        values = self._compute(full=True)
        found = values, values.tolist()
        if self._feed.key is not None and memo_key is not None:
            held = sum(v[0].shape[0] for v in _MEMO.values())
            if held + values.shape[0] > _MEMO_MAX_VALUES:
                _MEMO.clear()
            _MEMO[memo_key] = found
        return found

    def _compute(self, *, full: bool) -> F64:
        args = [self._feed.column(a, full=full) if isinstance(a, str) else a for a in self._args]
        return np.asarray(self._fn(*args, **self._kwargs), dtype=np.float64)

    def _refresh(self) -> F64:
        if self._window is not None:
            return np.asarray(self._extend(), dtype=np.float64)
        if self._version != -2 and self._version != self._feed.version:
            self._values = self._compute(full=False)
            self._version = self._feed.version
        return self._values

    def _extend(self) -> list[float]:
        """Live windowed values, up to date: the new bars' values computed over their windows
        only (the bars the buffer dropped are dropped here too, and the first ``w - 1`` kept
        are NaN, as a recompute over the buffer gives), or all of them when that cannot be."""
        feed, w = self._feed, self._window or 1
        live = self._live
        if live is not None and self._version == feed.version:
            return live
        start, end = feed.dropped, feed.dropped + feed.stop
        old_start = self._end - len(live) if live is not None else 0
        new = end - self._end
        step = self._step
        if live is None or new < 0 or start < old_start or start > self._end or new + w > feed.stop:
            live = self._compute(full=False).tolist()
            if step is not None:
                step.reset(feed.column(step.column)[max(0, feed.stop - w) :].tolist())
        else:
            if start > old_start:
                del live[: start - old_start]
                live[: w - 1] = [math.nan] * min(w - 1, len(live))
            if step is not None:  # the new bars' windows are in the buffer (new + w <= stop)
                live.extend(map(step.push, feed.column(step.column)[feed.stop - new :].tolist()))
            elif new:
                args = [feed.column(a)[feed.stop - new - w + 1 :] if isinstance(a, str) else a
                        for a in self._args]  # fmt: skip
                tail = np.asarray(self._fn(*args, **self._kwargs), dtype=np.float64)
                live.extend(tail[-new:].tolist())
        self._live, self._end, self._version = live, end, feed.version
        return live

    def __getitem__(self, k: int) -> float:
        """Value ``k`` bars back from now (``-1`` = latest); NaN before the data starts."""
        stop = self._feed.stop
        i = stop + k if k < 0 else k
        if i < 0 or i >= stop:
            return math.nan
        if self._list is not None:
            return self._list[i]
        if self._window is not None:
            return self._extend()[i]
        return float(self._refresh()[i])

    def last2(self) -> tuple[float, float]:
        """(previous, latest) values; NaN where a bar does not exist yet."""
        stop = self._feed.stop
        if self._list is not None:
            values = self._list
        elif self._window is not None:
            values = self._extend()
        else:
            values = self._refresh().tolist()
        if stop >= 2:
            return values[stop - 2], values[stop - 1]
        return math.nan, (values[0] if stop == 1 else math.nan)

    @property
    def values(self) -> F64:
        """Every visible value, oldest first."""
        return self._refresh()[: self._feed.stop]


# --------------------------------------------------------------------- causal helpers
def sma(x: F64, n: int) -> F64:
    """Simple moving average of the last ``n`` values (NaN for the first ``n - 1`` and for any
    window holding a non-finite value), each value the correctly rounded mean of its window.

    Why exact: a float running sum (or a difference of cumulative sums) carries rounding noise
    that grows along the series (5e-10 near bar 99,000), so two averages that are equal in
    exact arithmetic come out a few ulps apart in either order and ``cross`` sees crossings
    that are not there. Here every float is turned into an integer multiple of one power of
    two (exactly), windows are summed as integers (in int64 when every window's sum fits, as
    Python integers otherwise), and each mean is one correctly
    rounded integer division: equal means give equal floats, and rounding never reverses an
    order, so a crossover is found exactly when the true averages cross. A short series (a
    live bot's new bar with its window: see :class:`Indicator`) is summed in plain Python
    integers at the scale of its finest fraction (:func:`_short_means`): the same values, without
    a dozen numpy calls' overhead.
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape[0], np.nan)
    if n <= 0 or x.shape[0] < n:
        return out
    if x.shape[0] <= _SHORT:
        out[n - 1 :] = _short_means(x.tolist(), n)
        return out
    finite = np.isfinite(x)
    clean = np.where(finite, x, 0.0)
    mant, exp = np.frexp(clean)  # clean = mant * 2**exp, |mant| in [0.5, 1): mant * 2**53 is exact
    ints = (mant * 2.0**53).astype(np.int64)
    shift = exp.astype(np.int64) - 53
    k = int(shift.min())
    # value = integer * 2**k: divide by n * 2**-k (or scale up when k >= 0), correctly rounded
    den, up = (n << -k, 0) if k < 0 else (n, k)
    fast = _window_sums_int64(ints, shift - k, n) if k < 0 else None
    sums: Iterable[int]
    if fast is not None:
        # the same correctly rounded quotient, divided by n alone and then scaled by 2**k:
        # scaling by a power of two is exact (checked below for results too small to be
        # normal floats), and a one-digit divisor takes Python's fast long division path
        means = np.ldexp(np.array(list(map(truediv, fast, itertools.repeat(n)))), k)
        if not (np.abs(means[means != 0]) < _MIN_NORMAL).any():
            out[n - 1 :] = means
            return _mask_non_finite(out, finite, n)
        sums = fast
    else:
        # the same integer arithmetic as a comprehension would do, driven by map (no Python
        # frame per value): prefix sums of the scaled integers, window sums
        prefix = [0, *itertools.accumulate(map(lshift, ints.tolist(), (shift - k).tolist()))]
        sums = map(sub, prefix[n:], prefix[:-n])
        if up:
            sums = map(lshift, sums, itertools.repeat(up))
    out[n - 1 :] = list(map(truediv, sums, itertools.repeat(den)))  # one exact division each
    return _mask_non_finite(out, finite, n)


_MIN_NORMAL = float(np.finfo(np.float64).tiny)
_SHORT = 64  # series up to this long take the pure Python path


class _SlidingMean:
    """The correctly rounded mean of the last ``n`` values pushed (NaN until there are ``n``,
    and while one of them is not finite): :func:`sma`'s value at each new bar, from a running
    exact sum (integers at the finest binary scale seen, see :func:`_short_means`) instead of
    the window summed again."""

    __slots__ = ("bad", "bits", "column", "n", "total", "window")

    def __init__(self, n: int, column: str) -> None:
        self.n, self.column = n, column
        self.window: collections.deque[tuple[int, int] | None] = collections.deque()
        self.total, self.bits, self.bad = 0, 1, 0  # the sum is total / 2**(bits - 1)

    def reset(self, values: list[float]) -> None:
        """Start again from these values (the last ``n`` at most: the newest window)."""
        self.window.clear()
        self.total, self.bits, self.bad = 0, 1, 0
        for v in values[-self.n :]:
            self.push(v)

    def push(self, v: float) -> float:
        """Add a value (the oldest leaves past ``n``) and return the window's mean."""
        if v - v == 0:  # finite
            num, den = v.as_integer_ratio()
            b = den.bit_length()
            if b > self.bits:
                self.total <<= b - self.bits
                self.bits = b
            self.total += num << (self.bits - b)
            self.window.append((num, b))
        else:
            self.bad += 1
            self.window.append(None)
        if len(self.window) > self.n:
            old = self.window.popleft()
            if old is None:
                self.bad -= 1
            else:
                self.total -= old[0] << (self.bits - old[1])
            if self.bits > _FINE_BITS:  # a very fine value may have left: rescale (exact)
                self._rescale()
        if len(self.window) < self.n or self.bad:
            return math.nan
        return self.total / (self.n << (self.bits - 1))

    def _rescale(self) -> None:
        kept = [x for x in self.window if x is not None]
        self.bits = max((b for _, b in kept), default=1)
        self.total = sum(num << (self.bits - b) for num, b in kept)


_FINE_BITS = 128  # beyond this scale the running sum is rescaled to its window's finest


def _short_means(x: list[float], n: int) -> list[float]:
    """The correctly rounded mean of every window of ``n`` in ``x`` (NaN where a window holds
    a non-finite value): each float as an exact integer multiple of 2**-j (j: the largest
    binary exponent of their fractions), window sums as integers, one correctly rounded integer
    division each (as :func:`sma`'s other paths)."""
    ratios = [v.as_integer_ratio() if v - v == 0 else (0, 0) for v in x]  # (0, 0): not finite
    bits = max(den.bit_length() for _, den in ratios)  # the scale 2**(bits - 1)
    prefix, bad = [0], [0]
    total = nonfinite = 0
    for num, den in ratios:
        if den:
            total += num << (bits - den.bit_length())
        else:
            nonfinite += 1
        prefix.append(total)
        bad.append(nonfinite)
    scale = n << max(0, bits - 1)
    return [
        math.nan if bad[i + n] != bad[i] else (prefix[i + n] - prefix[i]) / scale
        for i in range(len(x) - n + 1)
    ]


# each output is the mean of its own n inputs (NaN masking is per window too)
_WINDOWS[sma] = lambda args, kwargs: int(kwargs["n"] if "n" in kwargs else args[1])


def _mask_non_finite(out: F64, finite: npt.NDArray[np.bool_], n: int) -> F64:
    """NaN for every window of ``n`` that holds a non-finite input."""
    if not finite.all():
        bad = np.concatenate(([0], np.cumsum(~finite)))
        out[n - 1 :][(bad[n:] - bad[:-n]) > 0] = np.nan
    return out


def _window_sums_int64(
    ints: npt.NDArray[np.int64], shifts: npt.NDArray[np.int64], n: int
) -> list[int] | None:
    """The exact window sums of ``ints << shifts`` computed in int64 when every window's sum
    fits (prices within a few powers of two of each other: the common case), else None.

    The prefix sums may wrap around, but a difference of two of them is the window's sum
    modulo 2**64, which is the sum itself when its size is below 2**63."""
    if int(shifts.max()) > 9:  # |ints| < 2**53: shifted by at most 9, below 2**62
        return None
    scaled = ints << shifts
    if int(np.abs(scaled).max()) * n >= 2**63:
        return None
    prefix = np.concatenate((np.zeros(1, dtype=np.int64), np.cumsum(scaled)))
    sums: list[int] = (prefix[n:] - prefix[:-n]).tolist()
    return sums


def cross(a: Indicator, b: Indicator) -> int:
    """+1 when ``a`` crossed above ``b`` on the latest bar, -1 when below, else 0 (one read)."""
    la, lb, stop = a._list, b._list, a._feed.stop
    if la is not None and lb is not None and stop >= 2 and b._feed.stop == stop:
        # both precomputed (a backtest): four list reads, no call (this runs every bar)
        a2, a1, b2, b1 = la[stop - 2], la[stop - 1], lb[stop - 2], lb[stop - 1]
    else:
        a2, a1 = a.last2()
        b2, b1 = b.last2()
    if a2 < b2 and a1 > b1:
        return 1
    if a2 > b2 and a1 < b1:
        return -1
    return 0


def crossover(a: Indicator | F64, b: Indicator | F64 | float) -> bool:
    """True when ``a`` crossed above ``b`` on the latest bar (was below, is above)."""
    a2, a1 = a.last2() if isinstance(a, Indicator) else (a[-2], a[-1])
    if isinstance(b, float | int):
        b2 = b1 = float(b)
    else:
        b2, b1 = b.last2() if isinstance(b, Indicator) else (b[-2], b[-1])
    return bool(a2 < b2 and a1 > b1)

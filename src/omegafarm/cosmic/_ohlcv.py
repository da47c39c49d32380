"""Candle input for every cosmic function: one validation step, then plain float64 arrays.

The Exchange Service's candle format is a numpy array of shape ``(n, 6)`` with the columns
``timestamp_ms, open, high, low, close, volume``. Callers may also pass a DataFrame-like object
(anything with ``columns`` and ``__getitem__``, e.g. pandas) holding those columns; we do not
import pandas, we only read the columns. Validation happens once, here, so the analysis code
below can trust its arrays (finite, ``high >= low``, timestamps increasing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from omegafarm.core.errors import ValidationError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Moves below this fraction of the price level are no moves: float64 rounding of scaled prices
# and of their logs (which grows with |log price|) reaches ~1e-15, so a threshold near it made
# a near-flat series' result depend on the price scale. Relative to the level: scale-free. No
# real market quotes this finely (a 0.01 tick at 100,000 is 1e-7).
FLAT_TOLERANCE = 1e-8


def is_straight_line(y: FloatArray, level: float) -> bool:
    """True when ``y`` minus its least-squares line moves by at most ``FLAT_TOLERANCE * level``.

    The spectral tests detrend linearly first, so of such a series (a steady trend, e.g.
    exponential growth in log prices) only float rounding is left, and a test on rounding
    measures the arithmetic, not the market: a pure exponential was a "significant cycle of
    12 bars, amplitude 1e-14 % of price", and an exact line left red-noise surrogates with no
    power at all (power ratio 0/0).
    """
    t = np.arange(y.shape[0], dtype=np.float64) - (y.shape[0] - 1) / 2.0
    centred = y - y.mean()
    resid = centred - (centred @ t) / float(t @ t) * t
    return float(np.ptp(resid)) <= FLAT_TOLERANCE * level


COLUMNS: tuple[str, ...] = ("timestamp", "open", "high", "low", "close", "volume")
_ALIASES: dict[str, tuple[str, ...]] = {
    "timestamp": ("timestamp", "timestamp_ms", "ts_ms", "time", "date"),
    "open": ("open",),
    "high": ("high",),
    "low": ("low",),
    "close": ("close",),
    "volume": ("volume",),
}


@runtime_checkable
class FrameLike(Protocol):
    """The slice of the pandas DataFrame interface we read: named columns."""

    @property
    def columns(self) -> object: ...

    def __getitem__(self, key: str, /) -> object: ...


@dataclass(frozen=True)
class Ohlcv:
    """Validated candles as six aligned float64 arrays (timestamps in milliseconds)."""

    ts_ms: FloatArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __len__(self) -> int:
        return int(self.close.shape[0])

    def as_array(self) -> FloatArray:
        """The ``(n, 6)`` array form (a copy)."""
        return np.column_stack(
            [self.ts_ms, self.open, self.high, self.low, self.close, self.volume]
        ).astype(np.float64)


OhlcvInput = npt.ArrayLike | FrameLike | Ohlcv


def _frame_to_array(frame: FrameLike) -> FloatArray:
    names = {str(c).lower(): c for c in list(frame.columns)}  # type: ignore[call-overload]  # columns is an iterable Index
    cols: list[FloatArray] = []
    for wanted in COLUMNS:
        key = next((names[a] for a in _ALIASES[wanted] if a in names), None)
        if key is None:
            raise ValidationError(
                f"candle frame has no {wanted!r} column; expected columns {', '.join(COLUMNS)}"
            )
        values = frame[key]
        if wanted == "timestamp" and np.asarray(values).dtype.kind == "M":
            values = np.asarray(values).astype("datetime64[ms]").astype(np.int64)
        cols.append(np.asarray(values, dtype=np.float64))
    return np.column_stack(cols) if cols[0].size else np.empty((0, 6), dtype=np.float64)


def as_ohlcv(data: OhlcvInput) -> Ohlcv:
    """Validate candles (``(n, 6)`` array or DataFrame) into :class:`Ohlcv`, or raise."""
    if isinstance(data, Ohlcv):
        return data
    if isinstance(data, FrameLike) and not isinstance(data, np.ndarray):
        arr = _frame_to_array(data)
    else:
        try:
            arr = np.asarray(data, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"candles must be numeric: {exc}") from exc
    if arr.ndim != 2 or arr.shape[1] != 6:
        raise ValidationError(
            f"candles must have shape (n, 6) [timestamp_ms, open, high, low, close, volume], "
            f"got {arr.shape}"
        )
    if not np.isfinite(arr).all():
        rows = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        raise ValidationError(
            f"candles contain NaN or infinite values in {rows.size} row(s), first at row {rows[0]}"
        )
    high, low = arr[:, 2], arr[:, 3]
    bad = np.flatnonzero(high < low)
    if bad.size:
        raise ValidationError(f"candle high < low in {bad.size} row(s), first at row {bad[0]}")
    ts = arr[:, 0]
    if ts.size > 1 and not (np.diff(ts) > 0).all():
        row = int(np.flatnonzero(np.diff(ts) <= 0)[0]) + 1
        raise ValidationError(f"candle timestamps must increase; row {row} does not")
    c = np.ascontiguousarray
    return Ohlcv(c(ts), c(arr[:, 1]), c(high), c(low), c(arr[:, 4]), c(arr[:, 5]))


def as_price_array(values: npt.ArrayLike, name: str = "values") -> FloatArray:
    """Validate a 1-D finite float series (e.g. closes) and return it as float64."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{name} must be numeric: {exc}") from exc
    if arr.ndim != 1:
        raise ValidationError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValidationError(f"{name} contains NaN or infinite values")
    return np.ascontiguousarray(arr)

"""What a backtest is given, checked before it runs: the candle file and the starting capital.

Nothing silent: a file whose bars are not the timeframe its name (or ``--timeframe``) says is
refused with both figures; rows out of time order are sorted and duplicate timestamps dropped
(the first row of each kept) with a warning that names the repair and the count; an empty or
header-only file is one error line naming the file. Capital is quote units unless it names a
currency: the base currency is converted at the first open of the range, any other currency
cannot be related to this market's prices and is refused with the ways that work.

Gaps (bar intervals with no candle: an exchange outage, a thin market) are not an error, but a
report says how many there are (:func:`coverage`), since indicators and fills then step over
missing time without knowing it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np

from omegafarm.core.errors import ConfigError, ValidationError
from omegafarm.exchange.paper._source import column_array

_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
# quotes in which "10,000" is a sensible account; a crypto quote (BTC, ETH...) gets 1 unit
FIAT_LIKE = frozenset(
    {
        "USD",
        "USDT",
        "USDC",
        "BUSD",
        "FDUSD",
        "TUSD",
        "DAI",
        "EUR",
        "GBP",
        "JPY",
        "CHF",
        "AUD",
        "CAD",
        "NZD",
        "CNY",
        "CNH",
        "HKD",
        "SGD",
        "KRW",
        "TRY",
        "BRL",
        "ZAR",
        "MXN",
        "INR",
        "RUB",
        "PLN",
        "SEK",
        "NOK",
        "DKK",
    }
)
_CAPITAL = re.compile(r"^\s*([0-9][0-9_,]*(?:\.[0-9]*)?|\.[0-9]+)\s*([A-Za-z][A-Za-z0-9]*)?\s*$")


def timeframe_text(ms: int) -> str:
    """``3_600_000`` → ``"1h"`` (the largest unit that divides it)."""
    for unit in ("w", "d", "h", "m", "s"):
        if ms % _UNIT_MS[unit] == 0:
            return f"{ms // _UNIT_MS[unit]}{unit}"
    return f"{ms}ms"


@dataclass(frozen=True)
class FileCheck:
    """What the candle file holds: its bar spacing and the repairs the loader will make."""

    rows: int
    inferred_timeframe: str | None
    warnings: tuple[str, ...]


def check_file(path: Path, named_tf: str | None, asked_tf: str | None) -> FileCheck:
    """Read the timestamps of ``path``; refuse what cannot be a candle file of that timeframe."""
    if path.suffix not in (".csv", ".parquet"):
        raise ConfigError(f"{path}: not a .csv or .parquet candle file")
    if path.stat().st_size == 0:
        raise ConfigError(f"{path}: the file is empty (expected a header and candle rows)")
    ts = _timestamps(path)
    if ts.shape[0] == 0:
        raise ConfigError(f"{path}: the file has a header but no candle rows")
    warnings: list[str] = []
    unordered = int(np.count_nonzero(np.diff(ts) < 0))
    if unordered:
        warnings.append(f"{path.name}: {unordered} rows out of time order: sorted by timestamp")
    ordered = np.sort(ts, kind="stable")
    duplicates = int(np.count_nonzero(np.diff(ordered) == 0))
    if duplicates:
        warnings.append(
            f"{path.name}: {duplicates} duplicate timestamps: kept the first row of each"
        )
    steps = np.diff(np.unique(ordered))
    inferred = None
    if steps.shape[0]:
        values, counts = np.unique(steps, return_counts=True)
        inferred = timeframe_text(int(values[np.argmax(counts)]))  # the commonest spacing
    if inferred is not None and asked_tf is not None:
        if _ms(asked_tf) != _ms(inferred):
            raise ConfigError(
                f"{path}: bars are {inferred} apart but --timeframe says {asked_tf}; "
                f"pass --timeframe {inferred}"
            )
        if named_tf is not None and _ms(named_tf) != _ms(inferred):
            warnings.append(
                f"{path.name}: the file name says {named_tf} but bars are {inferred} apart; "
                f"using --timeframe {asked_tf}"
            )
    elif inferred is not None and named_tf is not None and _ms(named_tf) != _ms(inferred):
        raise ConfigError(
            f"{path}: bars are {inferred} apart but the file name says {named_tf}; "
            f"rename the file or pass --timeframe {inferred}"
        )
    return FileCheck(int(ts.shape[0]), inferred, tuple(warnings))


def _ms(tf: str) -> int:
    unit, count = tf[-1:], tf[:-1]
    if unit not in _UNIT_MS or not count.isdigit() or int(count) <= 0:
        raise ConfigError(f"timeframe {tf!r} is not one of N s/m/h/d/w (e.g. 5m, 1h)")
    return int(count) * _UNIT_MS[unit]


def _timestamps(path: Path) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    try:
        if path.suffix == ".parquet":
            table = pq.read_table(path, columns=["timestamp"])
        else:
            options = pacsv.ConvertOptions(include_columns=["timestamp"])
            table = pacsv.read_csv(path, convert_options=options)
    except (pa.ArrowInvalid, KeyError) as exc:
        reason = str(exc).splitlines()[0]
        raise ConfigError(f"{path}: cannot read a timestamp column ({reason})") from None
    return column_array(table.column("timestamp")).astype(np.int64)


@dataclass(frozen=True)
class Coverage:
    """How many bar intervals of a range hold a candle (information, never a warning)."""

    intervals: int  # bar intervals from the first candle to the last, both included
    missing: int  # of them with no candle
    largest_gap_ms: int  # the longest run of missing intervals (0: none missing)
    largest_gap_at_ms: int | None  # open time of that run's first missing interval

    @property
    def share(self) -> float:
        """Missing intervals as a fraction of all of them (0.0 for an empty range)."""
        return self.missing / self.intervals if self.intervals else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "intervals": self.intervals,
            "missing": self.missing,
            "share": round(self.share, 6),
            "largest_gap_ms": self.largest_gap_ms,
            "largest_gap_at_ms": self.largest_gap_at_ms,
        }


def coverage(ts: np.ndarray, tf_ms: int) -> Coverage:
    """Missing bar intervals between the first and the last of ``ts`` (sorted, unique, ms)."""
    n = int(ts.shape[0])
    if n == 0:
        return Coverage(0, 0, 0, None)
    intervals = int(ts[-1] - ts[0]) // tf_ms + 1
    missing = max(0, intervals - n)
    if n < 2 or missing == 0:
        return Coverage(intervals, missing, 0, None)
    steps = np.diff(ts)
    k = int(np.argmax(steps))
    gap_ms = int(steps[k]) - tf_ms
    if gap_ms <= 0:  # bars off the timeframe's grid: counted, but no run of whole intervals
        return Coverage(intervals, missing, 0, None)
    return Coverage(intervals, missing, gap_ms // tf_ms * tf_ms, int(ts[k]) + tf_ms)


def duration_text(ms: int) -> str:
    """``2_700_000`` → ``"45 min"``; ``7_200_000`` → ``"2 h"``; ``86_400_000`` → ``"1 d"``."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1_000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size:,} {unit}"
    return f"{ms:,} ms"


@dataclass(frozen=True)
class Capital:
    """Starting cash in the quote currency, and how it was arrived at (for the report)."""

    amount: Decimal
    note: str


def resolve_capital(text: str | None, base: str, quote: str, first_open: float) -> Capital:
    """``"1"``/``"1 BTC"`` (quote units), ``"20 ETH"`` (base, at the first open) or the default.

    The default is 10,000 of a fiat or stable-coin quote and 1 unit of any other quote (10,000
    BTC would buy more than the market trades, and every order would be refused).
    """
    if text is None:
        amount = Decimal(10_000) if quote.upper() in FIAT_LIKE else Decimal(1)
        why = "fiat/stable quote" if quote.upper() in FIAT_LIKE else f"{quote} is not fiat"
        return Capital(amount, f"{amount} {quote} (default: {why}; --capital to change)")
    match = _CAPITAL.match(text)
    if match is None:
        raise ValidationError(f"--capital {text!r}: use a number, optionally with a currency")
    try:
        number = Decimal(match.group(1).replace("_", "").replace(",", ""))
    except InvalidOperation:
        raise ValidationError(f"--capital {text!r}: {match.group(1)!r} is not a number") from None
    if number <= 0:
        raise ValidationError(f"--capital {text!r}: must be above 0")
    currency = (match.group(2) or quote).upper()
    if currency == quote.upper():
        return Capital(number, f"{number} {quote}")
    if currency == base.upper():
        converted = (number * Decimal(repr(first_open))).normalize()
        return Capital(converted, f"{number} {base} = {converted} {quote} at the first open")
    raise ConfigError(
        f"--capital {text!r}: {base}/{quote} is priced in {quote} and these candles hold no "
        f"{currency}/{quote} rate; give the capital in {quote} (e.g. --capital 1{quote}) "
        f"or in {base} (converted at the first open)"
    )

"""Candle history downloads: a date range fetched in pages into the local candle cache, and files.

:func:`download` walks ``[since, until)`` in chunks of one exchange page through
:meth:`ExchangeService.fetch_ohlcv`, which answers from the SQLite candle cache what it already
holds and asks the exchange only for the rest: a second download of the same range makes no
exchange call. The chunks are joined sorted, deduplicated and gap-free. Only closed candles are
downloaded (``until`` is capped at the open time of the candle still forming). The writers put
the candles in CSV (``timestamp,open,high,low,close,volume``, timestamp in ms) or Parquet.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from omegafarm.core.errors import ValidationError
from omegafarm.exchange.ohlcv_cache import dedupe, empty, fill_gaps

if TYPE_CHECKING:
    from omegafarm.exchange.service import ExchangeService

F64 = npt.NDArray[np.float64]
ProgressFn = Callable[[int, int], None]  # (candles done, candles in the range)
CSV_HEADER = ("timestamp", "open", "high", "low", "close", "volume")
_DIGITS = re.compile(r"^\d{10,14}$")


def parse_when_ms(text: str, *, option: str = "date") -> int:
    """Milliseconds since the epoch of ``2024-01-31``, ``2024-01-31T12:00[:00][Z|+02:00]`` or
    a timestamp in ms; dates without a zone are UTC."""
    value = text.strip()
    if _DIGITS.match(value):
        return int(value)
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            f"{option} {text!r} is not a date: use 2024-01-31, 2024-01-31T12:00 (UTC unless a "
            "zone is given) or a timestamp in ms"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def timeframe_ms(service: ExchangeService, timeframe: str) -> int:
    """The bar length of ``timeframe`` in ms, or a ValidationError naming what the venue offers."""
    venue = service.venue
    offered = dict(venue.timeframes)
    if offered and timeframe not in offered:
        raise ValidationError(
            f"{service.exchange_id} has no timeframe {timeframe!r}; it offers " + ", ".join(offered)
        )
    try:
        tf_ms = venue.timeframe_ms(timeframe)
    except Exception as exc:  # the venue's library refuses an unknown unit its own way
        raise ValidationError(f"timeframe {timeframe!r} is not valid: {exc}") from None
    if tf_ms <= 0:
        raise ValidationError(f"timeframe {timeframe!r} is not valid")
    return tf_ms


async def download(
    service: ExchangeService,
    symbol: str,
    timeframe: str,
    *,
    since_ms: int,
    until_ms: int | None = None,
    on_progress: ProgressFn | None = None,
) -> F64:
    """Closed candles with ``since_ms <= ts < until_ms`` (default: up to now), cached locally."""
    tf_ms = timeframe_ms(service, timeframe)
    now_ms = service.venue.now_ms()
    start = -(-since_ms // tf_ms) * tf_ms  # the first bar opening at or after since
    closed_end = now_ms // tf_ms * tf_ms  # the bar still forming opens here
    end = closed_end if until_ms is None else min(-(-until_ms // tf_ms) * tf_ms, closed_end)
    if end <= start:
        raise ValidationError(
            f"nothing to download: the range ends ({_iso(end)}) before it starts ({_iso(start)})"
        )
    total = (end - start) // tf_ms
    step = service.settings.ohlcv_page_limit
    parts: list[F64] = []
    for offset in range(0, total, step):
        count = min(step, total - offset)
        chunk = await service.fetch_ohlcv(
            symbol, timeframe, since=start + offset * tf_ms, limit=count
        )
        parts.append(chunk)
        if on_progress is not None:
            on_progress(offset + count, total)
    rows = dedupe(np.concatenate(parts)) if parts else empty()
    rows = fill_gaps(rows, tf_ms)
    return rows[(rows[:, 0] >= start) & (rows[:, 0] < end)]


def write_candles(path: Path, rows: F64) -> None:
    """Write candles as CSV (``.csv``) or Parquet (``.parquet``/``.pq``), by the file's suffix."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise ValidationError(f"output {path} must end in .csv or .parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        _write_csv(path, rows)
    else:
        _write_parquet(path, rows)


def _write_csv(path: Path, rows: F64) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_HEADER)
        for row in rows.tolist():
            writer.writerow([int(row[0]), *(repr(float(v)) for v in row[1:6])])


def _write_parquet(path: Path, rows: F64) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {"timestamp": pa.array(rows[:, 0].astype(np.int64))}
    for index, name in enumerate(CSV_HEADER[1:], start=1):
        columns[name] = pa.array(rows[:, index])
    pq.write_table(pa.table(columns), path)


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")

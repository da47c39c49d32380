"""Candle history: paging through an exchange's OHLCV and keeping closed candles in SQLite.

Closed candles never change, so they are stored once per (exchange, symbol, timeframe, variant)
together with the time ranges already asked for (``coverage``). A range that is fully covered
is answered from SQLite without any exchange call; otherwise only the uncovered pieces are
fetched, page by page. Coverage, not the presence of rows, decides: an hour without trades has
no candle on most exchanges and must not be asked for again and again. The result is sorted,
deduplicated and gap-free: a missing bar inside the range becomes a flat bar at the previous
close with zero volume.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
CacheKey = tuple[str, str, str, str]  # exchange, symbol, timeframe, variant (e.g. "price=mark")
PageFn = Callable[[int | None, int], Awaitable[F64]]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS candle (
    exchange TEXT, symbol TEXT, timeframe TEXT, variant TEXT, ts_ms INTEGER,
    open REAL, high REAL, low REAL, close REAL, volume REAL,
    PRIMARY KEY (exchange, symbol, timeframe, variant, ts_ms)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS coverage (
    exchange TEXT, symbol TEXT, timeframe TEXT, variant TEXT, start_ms INTEGER, end_ms INTEGER
);
"""


def empty() -> F64:
    """An OHLCV array with no rows."""
    return np.empty((0, 6), dtype=np.float64)


def dedupe(rows: F64) -> F64:
    """Rows sorted by timestamp, one per timestamp (the last one seen wins)."""
    if len(rows) == 0:
        return empty()
    order = np.argsort(rows[:, 0], kind="stable")
    ordered = rows[order]
    keep = np.ones(len(ordered), dtype=bool)
    keep[:-1] = ordered[1:, 0] != ordered[:-1, 0]
    return np.ascontiguousarray(ordered[keep])


def fill_gaps(rows: F64, tf_ms: int) -> F64:
    """Insert flat zero-volume bars (previous close) where bars are missing inside ``rows``."""
    if len(rows) < 2:
        return rows
    first, last = int(rows[0, 0]), int(rows[-1, 0])
    count = (last - first) // tf_ms + 1
    if count == len(rows):
        return rows
    slots = first + tf_ms * np.arange(count, dtype=np.int64)
    index = np.searchsorted(rows[:, 0], slots.astype(np.float64))
    index = np.minimum(index, len(rows) - 1)
    present = rows[index, 0] == slots
    src = np.maximum.accumulate(np.where(present, index, 0))
    out = np.empty((count, 6), dtype=np.float64)
    out[:, 0] = slots
    close = rows[src, 4]
    out[:, 1:5] = close[:, None]
    out[:, 5] = 0.0
    out[present] = rows[index[present]]
    return out


class OhlcvCache:
    """Closed candles and covered ranges in one SQLite file (``:memory:`` works too)."""

    def __init__(self, path: Path | str) -> None:
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock, self._db:
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def put(self, key: CacheKey, rows: F64) -> None:
        """Store candles (replacing rows with the same timestamp)."""
        if len(rows) == 0:
            return
        data = [(*key, int(r[0]), *(float(v) for v in r[1:6])) for r in rows]
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO candle VALUES (?,?,?,?,?,?,?,?,?,?)", data)

    def get(self, key: CacheKey, start_ms: int, end_ms: int) -> F64:
        """Stored candles with ``start_ms <= ts < end_ms``, oldest first."""
        with self._lock:
            cursor = self._db.execute(
                "SELECT ts_ms, open, high, low, close, volume FROM candle WHERE exchange=? AND "
                "symbol=? AND timeframe=? AND variant=? AND ts_ms>=? AND ts_ms<? ORDER BY ts_ms",
                (*key, start_ms, end_ms),
            )
            rows = cursor.fetchall()
        return np.array(rows, dtype=np.float64).reshape(-1, 6)

    def _ranges(self, key: CacheKey) -> list[tuple[int, int]]:
        with self._lock:
            cursor = self._db.execute(
                "SELECT start_ms, end_ms FROM coverage WHERE exchange=? AND symbol=? AND "
                "timeframe=? AND variant=? ORDER BY start_ms",
                key,
            )
            return [(int(a), int(b)) for a, b in cursor.fetchall()]

    def add_coverage(self, key: CacheKey, start_ms: int, end_ms: int) -> None:
        """Record that ``[start_ms, end_ms)`` was fetched completely (merging ranges)."""
        if end_ms <= start_ms:
            return
        merged: list[tuple[int, int]] = []
        for a, b in sorted([*self._ranges(key), (start_ms, end_ms)]):
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        where = "exchange=? AND symbol=? AND timeframe=? AND variant=?"
        with self._lock, self._db:
            self._db.execute(f"DELETE FROM coverage WHERE {where}", key)  # noqa: S608  # constant
            self._db.executemany(
                "INSERT INTO coverage VALUES (?,?,?,?,?,?)", [(*key, a, b) for a, b in merged]
            )

    def uncovered(self, key: CacheKey, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
        """The parts of ``[start_ms, end_ms)`` never fetched."""
        gaps: list[tuple[int, int]] = []
        cursor = start_ms
        for a, b in self._ranges(key):
            if b <= cursor:
                continue
            if a >= end_ms:
                break
            if a > cursor:
                gaps.append((cursor, min(a, end_ms)))
            cursor = max(cursor, b)
        if cursor < end_ms:
            gaps.append((cursor, end_ms))
        return gaps


async def fetch_range(
    cache: OhlcvCache,
    key: CacheKey,
    page: PageFn,
    *,
    tf_ms: int,
    since_ms: int,
    limit: int | None,
    now_ms: int,
    page_limit: int,
) -> F64:
    """Candles from ``since_ms`` (``limit`` of them, or up to now), from cache or by paging."""
    start = -(-since_ms // tf_ms) * tf_ms
    closed_end = now_ms // tf_ms * tf_ms  # open time of the candle still forming
    end = start + limit * tf_ms if limit else closed_end + tf_ms
    live: list[F64] = []
    gaps = cache.uncovered(key, start, min(end, closed_end))
    if end > closed_end:
        gaps.append((max(start, closed_end), end))
    for gap_start, gap_end in gaps:
        cursor = gap_start
        for _ in range((gap_end - gap_start) // tf_ms + 2):
            if cursor >= gap_end:
                break
            want = min(page_limit, -(-(gap_end - cursor) // tf_ms))
            answer = dedupe(await page(cursor, want))
            rows = answer[answer[:, 0] >= cursor]
            if len(rows) == 0:
                if len(answer) == 0:  # nothing there: remember it; only older bars: do not
                    cache.add_coverage(key, cursor, min(gap_end, closed_end))
                break
            closed = rows[rows[:, 0] < closed_end]
            cache.put(key, closed)
            live.append(rows[rows[:, 0] >= closed_end])
            last = int(rows[-1, 0])
            cache.add_coverage(key, cursor, min(last + tf_ms, closed_end))
            cursor = last + tf_ms
    stored = cache.get(key, start, min(end, closed_end))
    result = fill_gaps(dedupe(np.concatenate([stored, *live])), tf_ms)
    result = result[(result[:, 0] >= start) & (result[:, 0] < end)]
    return result[:limit] if limit else result


async def fetch_latest(
    cache: OhlcvCache, key: CacheKey, page: PageFn, *, tf_ms: int, limit: int | None, now_ms: int
) -> F64:
    """The most recent candles (one request); closed ones are kept for later range requests."""
    fetched = await page(None, limit or 0)
    rows = dedupe(fetched)
    closed_end = now_ms // tf_ms * tf_ms
    closed = rows[rows[:, 0] < closed_end]
    if len(closed):
        cache.put(key, closed)
        cache.add_coverage(key, int(closed[0, 0]), int(closed[-1, 0]) + tf_ms)
    result = fill_gaps(rows, tf_ms)
    return result[-limit:] if limit else result

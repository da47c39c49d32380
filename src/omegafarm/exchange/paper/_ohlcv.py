"""fetch_ohlcv for the paper exchange: closed bars, since/limit like ccxt, coarser timeframes.

A timeframe that is a multiple of the source's is aggregated from closed source bars grouped by
``ts // tf * tf`` (open of the first, max high, min low, close of the last, summed volume).
Only candles whose whole period has passed on the clock are returned, for every timeframe: the
paper exchange never shows a forming candle, so a cache that keeps what it is given stays right.
"""

from __future__ import annotations

import numpy as np

from omegafarm.exchange.paper._source import Candles

DEFAULT_LIMIT = 500


def ohlcv_rows(
    c: Candles, n: int, tf_ms: int, now_ms: int, since: int | None, limit: int | None
) -> list[list[float]]:
    """``[[ts_ms, open, high, low, close, volume], ...]`` of complete candles up to ``now_ms``."""
    n = int(np.searchsorted(c.ts[:n], now_ms // tf_ms * tf_ms, "left"))  # drop a forming one
    if n == 0:
        return []
    ts = c.ts[:n]
    limit = limit or DEFAULT_LIMIT
    if since is not None:
        start = int(np.searchsorted(ts, since - since % tf_ms, "left"))
    else:
        last_key = int(ts[-1]) // tf_ms * tf_ms
        start = int(np.searchsorted(ts, last_key - (limit - 1) * tf_ms, "left"))
    keys = ts[start:] // tf_ms * tf_ms
    if keys.shape[0] == 0:
        return []
    heads = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    tails = np.r_[heads[1:], keys.shape[0]] - 1
    sl = slice(start, n)
    table = np.column_stack(
        [
            keys[heads].astype(np.float64),
            c.open[sl][heads],
            np.maximum.reduceat(c.high[sl], heads),
            np.minimum.reduceat(c.low[sl], heads),
            c.close[sl][tails],
            np.add.reduceat(c.volume[sl], heads),
        ]
    )
    table = table[table[:, 0] >= since][:limit] if since is not None else table[-limit:]
    return [[int(row[0]), *map(float, row[1:])] for row in table.tolist()]

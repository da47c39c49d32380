"""Incremental update: microseconds to append one candle to a 100,000-candle history.

A :class:`~omegafarm.cosmic.incremental.CosmicStream` is fed 100,000 random-walk candles, then
10,000 more one at a time; each append updates pivots, completed and forming harmonic patterns
(and marks the Fibonacci levels stale). The baseline is what a caller without the stream would
do: the full batch scan (``identify_patterns``) of the history plus the new candle.

    python bench/cosmic_incremental.py
"""

from __future__ import annotations

import json
import statistics
import time

import numpy as np

import _candles
from omegafarm.cosmic.harmonics import identify_patterns, load_ratio_table
from omegafarm.cosmic.incremental import CosmicStream

HISTORY = 100_000
APPENDS = 10_000


def random_walk(n: int, seed: int = 5) -> np.ndarray:
    """Random-walk 5-minute candles (see ``_candles``)."""
    return _candles.random_walk(n, seed)


def main() -> None:
    candles = random_walk(HISTORY + APPENDS)
    table = load_ratio_table()
    stream = CosmicStream(table=table)
    stream.extend(candles[:HISTORY])
    rows = candles[HISTORY:].tolist()
    per_append = []
    for row in rows:
        t0 = time.perf_counter()
        stream.append(row)
        per_append.append(time.perf_counter() - t0)
    mean_us = statistics.fmean(per_append) * 1e6
    p50_us = statistics.median(per_append) * 1e6
    p99_us = float(np.percentile(per_append, 99)) * 1e6
    full = []
    for k in range(5):
        t0 = time.perf_counter()
        batch = identify_patterns(candles[: HISTORY + k + 1], table=table)
        full.append(time.perf_counter() - t0)
    full_us = min(full) * 1e6
    final = identify_patterns(candles, table=table)
    assert stream.scan() == final, "incremental result differs from the batch scan"
    print(
        f"append one candle to {HISTORY:,} history: mean {mean_us:.1f} us, "
        f"median {p50_us:.1f} us, p99 {p99_us:.1f} us ({len(stream.pivots)} pivots, "
        f"{len(stream.completed)} patterns)"
    )
    print(
        f"full recompute of {HISTORY + 1:,} candles: {full_us / 1e3:.1f} ms "
        f"({len(batch.completed)} patterns); incremental == batch after {APPENDS:,} appends"
    )
    print(
        json.dumps(
            {
                "bench": "cosmic_incremental",
                "ours": round(mean_us, 2),
                "baseline": round(full_us, 1),
                "baseline_name": "full batch scan (identify_patterns) of history + 1 candle",
                "unit": "us per candle",
                "ratio": round(full_us / mean_us, 1),
                "better": "higher",
                "ours_median_us": round(p50_us, 2),
                "ours_p99_us": round(p99_us, 2),
            }
        )
    )


if __name__ == "__main__":
    main()

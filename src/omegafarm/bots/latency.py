"""Candle-to-decision latency of a worker's bots, summarised once per heartbeat.

The gateway stamps each candle message with ``sent_ms`` (wall clock at publish); the worker
records, per handled candle, the time from that stamp to the end of the bot's decision (state
saved, orders sent). Each heartbeat carries the counts and percentiles since the previous one,
so a reader (``bench/farm_capacity.py``, the dashboard) sees how late bots decide without
asking any bot.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MAX_SAMPLES = 100_000  # per heartbeat period; beyond this the oldest are not kept


class LatencyWindow:
    """Latency samples (ms) since the last :meth:`take`, and a running candle count."""

    def __init__(self) -> None:
        self._samples: list[float] = []
        self.handled = 0  # candles handled by this worker's bots since start

    def record(self, sent_ms: float | None, done_ms: float) -> None:
        """One bot finished deciding on a candle sent at ``sent_ms`` (None: not stamped)."""
        self.handled += 1
        if sent_ms is not None and len(self._samples) < MAX_SAMPLES:
            self._samples.append(max(0.0, done_ms - float(sent_ms)))

    def take(self) -> dict[str, Any]:
        """Summary of the samples since the last call (and forget them)."""
        samples, self._samples = self._samples, []
        out: dict[str, Any] = {"handled": self.handled, "n": len(samples)}
        if samples:
            arr = np.asarray(samples)
            out["p50_ms"] = round(float(np.percentile(arr, 50)), 3)
            out["p99_ms"] = round(float(np.percentile(arr, 99)), 3)
            out["max_ms"] = round(float(arr.max()), 3)
        return out

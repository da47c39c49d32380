"""Per-bot and farm performance on ``/metrics``, read from the bots' status records in Redis.

Each live bot writes a status record (equity, position, PnL, fees, trades) after every event;
this collector turns the latest records into Prometheus gauges at scrape time, so the numbers
are the farm's, whichever worker runs which bot. The scrape is served from a cache refreshed
by :meth:`FarmCollector.refresh` every :data:`REFRESH_S` (Prometheus collectors must not block
on I/O), in a handful of batched reads whatever the number of bots: the view may be a few
seconds old.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from omegafarm.bots.staleness import CandleAge, candle_ages
from omegafarm.store import RedisClient
from omegafarm.store import keys as _names

_FIELDS = ("equity", "position", "realized_pnl", "fees", "trades", "open_orders")
_RATIOS = ("return", "max_drawdown", "win_rate")  # per bot only: a sum would mean nothing


async def read_statuses(redis: RedisClient) -> dict[str, dict[str, Any]]:
    """The latest status record of every registered bot (missing ones are left out)."""
    specs: dict[str, Any] = await redis.get(_names.BOTS) or {}
    ids = sorted(specs)
    found = await redis.get_many([_names.status(b) for b in ids])
    return {b: status for b, status in zip(ids, found, strict=True) if status}


REFRESH_S = 5.0  # the farm service refreshes the collector (and its feed check) this often


class FarmCollector(Collector):
    """Prometheus gauges ``omega_bot_<field>{bot}`` and ``omega_farm_<field>``."""

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self.statuses: dict[str, dict[str, Any]] = {}
        self.diverged = 0  # bots halted by reconciliation
        self.candles: dict[str, CandleAge] = {}

    async def refresh(self) -> None:
        """Read the bots' status records, halts and candle ages: five reads whatever the bot
        count (MGETs; per slot on a cluster). The farm service calls it every
        ``REFRESH_S``, so ``/metrics`` is at most that old."""
        specs: dict[str, Any] = await self.redis.get(_names.BOTS) or {}
        ids = sorted(specs)
        found = await self.redis.get_many([_names.status(b) for b in ids])
        self.statuses = {b: status for b, status in zip(ids, found, strict=True) if status}
        halts = await self.redis.get_many([_names.halt(b) for b in ids])
        self.diverged = sum(1 for h in halts if h is not None)
        self.candles = await candle_ages(self.redis)

    def describe(self) -> list[GaugeMetricFamily]:
        """Nothing up front: the bots (hence the series) are only known at scrape time."""
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The gauges of the last refresh."""
        for field in _FIELDS:
            per_bot = GaugeMetricFamily(f"omega_bot_{field}", f"Bot {field}.", labels=["bot"])
            total = 0.0
            for bot_id, status in self.statuses.items():
                value = float(status.get(field) or 0)
                per_bot.add_metric([bot_id], value)
                total += value
            yield per_bot
            yield GaugeMetricFamily(f"omega_farm_{field}", f"Sum of bot {field}.", value=total)
        for field in _RATIOS:
            ratio = GaugeMetricFamily(f"omega_bot_{field}", f"Bot {field}.", labels=["bot"])
            for bot_id, status in self.statuses.items():
                if status.get(field) is not None:
                    ratio.add_metric([bot_id], float(status[field]))
            yield ratio
        halted = sum(1 for s in self.statuses.values() if s.get("halted"))
        yield GaugeMetricFamily("omega_farm_bots_halted", "Bots halted by a risk limit.", halted)
        yield GaugeMetricFamily(
            "omega_farm_bots_diverged",
            "Bots halted because their ledger differs from the exchange (omega bots reconcile).",
            self.diverged,
        )
        age = GaugeMetricFamily(
            "omega_bot_candle_age_seconds", "Seconds since the bot heard a candle.", labels=["bot"]
        )
        for bot_id, candle in sorted(self.candles.items()):
            age.add_metric([bot_id], candle.age_s)
        yield age
        silent = sum(1 for c in self.candles.values() if c.silent)
        yield GaugeMetricFamily(
            "omega_farm_bots_silent", "Bots that heard no candle for 3 of their timeframes.", silent
        )

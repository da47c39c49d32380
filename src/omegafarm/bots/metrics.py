"""Per-bot and farm performance on ``/metrics``, read from the bots' status records in Redis.

Each live bot writes a status record (equity, position, PnL, fees, trades) after every event;
this collector turns the latest records into Prometheus gauges at scrape time, so the numbers
are the farm's, whichever worker runs which bot. The scrape is served from a cache refreshed
by :meth:`FarmCollector.refresh` (Prometheus collectors must not block on I/O).
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
    out = {}
    for bot_id in sorted(specs):
        status = await redis.get(_names.status(bot_id))
        if status:
            out[bot_id] = status
    return out


class FarmCollector(Collector):
    """Prometheus gauges ``omega_bot_<field>{bot}`` and ``omega_farm_<field>``."""

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self.statuses: dict[str, dict[str, Any]] = {}
        self.candles: dict[str, CandleAge] = {}

    async def refresh(self) -> None:
        """Read the bots' status records (call it from the service's loop or before a scrape)."""
        self.statuses = await read_statuses(self.redis)
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

"""Deaf bots: which bots heard no candle for 3 of their timeframes, farm-wide.

Each worker tracks, per bot it runs, when the last candle arrived and puts it in its heartbeat
(see :meth:`omegafarm.bots.worker.Worker.heartbeat`). A bot is *silent* when that was more than
``SILENT_TIMEFRAMES`` of its timeframes ago (wall clock). The farm reads every worker's
heartbeat here (the live ones listed by ``WORKERS_LIVE``, then one MGET): ``/health``
warns, the bot's API status shows it, ``omega_farm_bots_silent``
counts them on ``/metrics`` and the default alert rule ``bots-silent`` fires on it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from omegafarm.core.errors import ValidationError
from omegafarm.store import RedisClient
from omegafarm.store import keys as _names

SILENT_TIMEFRAMES = 3
_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800, "M": 2_592_000}
_TF = re.compile(r"^(\d+)([smhdwM])$")


def timeframe_s(timeframe: str) -> int:
    """Seconds of a ccxt timeframe (``1m``, ``4h``, ``1d``...)."""
    match = _TF.match(timeframe)
    if match is None:
        raise ValidationError(f"timeframe {timeframe!r} is not like 1m, 15m, 1h, 1d")
    return int(match.group(1)) * _UNITS_S[match.group(2)]


def silent_after_s(timeframe: str) -> float:
    """How long a bot of ``timeframe`` may go without a candle before it is reported."""
    return float(SILENT_TIMEFRAMES * timeframe_s(timeframe))


@dataclass(frozen=True)
class CandleAge:
    """When a bot last heard a candle, as its worker reported it."""

    bot_id: str
    worker: str
    last_candle_ms: int
    age_s: float
    silent: bool

    def as_json(self) -> dict[str, Any]:
        return {"worker": self.worker, "last_candle_ms": self.last_candle_ms,
                "candle_age_s": self.age_s, "silent": self.silent}  # fmt: skip


async def candle_ages(redis: RedisClient) -> dict[str, CandleAge]:
    """Every running bot's candle age, from the live workers' heartbeats (bot id -> age)."""
    now_ms = int(time.time() * 1000)
    out: dict[str, CandleAge] = {}
    workers = await redis.members_by_score(_names.WORKERS_LIVE, now_ms)  # no SCAN: one read
    beats = await redis.get_many([_names.worker(w) for w in workers])  # one slot: one MGET
    for worker, beat in zip(workers, beats, strict=True):
        if not beat:
            continue
        silent = set(beat.get("silent") or {})
        for bot_id, last_ms in (beat.get("candles") or {}).items():
            age_s = round(max(0.0, (now_ms - int(last_ms)) / 1000), 3)
            out[bot_id] = CandleAge(bot_id, worker, int(last_ms), age_s, bot_id in silent)
    return out

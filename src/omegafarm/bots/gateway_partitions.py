"""Command partitions: how a farm's order commands are split over several gateways.

A bot's commands (place, cancel, sync) go to one of the farm's ``N`` command partitions,
``crc32(bot_id) % N``, on the stream ``gw:{gateway:p<n>}:commands``. A partition is executed by
one gateway at a time, the holder of its lease (``lock:lease:gw:{gateway:p<n>}``, with a fencing
token); gateways share the partitions like workers share bots. So a bot's commands are executed
in the order it sent them (one stream, one consumer at a time), and no command twice.

Why per bot, not per exchange account: a bot's ledger is its own (client order ids
``{bot_id}-{n}``), and the only order that changes an outcome is the order of one bot's own
commands (a cancel after the place it cancels, a sync after both). Commands of two bots on one
account are independent: the exchange orders them anyway, and a farm-wide per-account budget is
the shared rate limit, not the stream. Partitioning by bot spreads one busy account's bots over
every gateway.

``N`` is fixed for a farm's life: it is recorded in Redis (``state:gw:{gateway}:partitions``)
by the first gateway or bot that needs it, and every process uses the recorded value (a
process configured otherwise says so in its log), so a worker and a gateway can never disagree
about where a bot's commands go.
"""

from __future__ import annotations

import asyncio
import time
import zlib

import structlog

from omegafarm.bots.config import FarmSettings
from omegafarm.bots.lease import Lease
from omegafarm.store import RedisClient
from omegafarm.store import keys as _names

_log = structlog.get_logger("omegafarm.bots.gateway")
DEFAULT_PARTITIONS: int = FarmSettings.model_fields["gateway_partitions"].default


def partition_of(bot_id: str, partitions: int) -> int:
    """The partition of a bot's commands (stable across processes and restarts)."""
    return zlib.crc32(bot_id.encode()) % partitions


async def farm_partitions(redis: RedisClient, configured: int | None = None) -> int:
    """The farm's partition count: recorded once (``configured``, else the default), then read."""
    wanted = configured or DEFAULT_PARTITIONS
    await redis.set_if_absent(_names.GATEWAY_PARTITIONS, wanted)
    recorded = int(await redis.get(_names.GATEWAY_PARTITIONS) or wanted)
    if configured is not None and recorded != configured:
        _log.warning(
            "gateway_partitions_setting_ignored", configured=configured, recorded=recorded,
            hint="the farm's partition count is fixed once recorded (docs/bots.md)",
        )  # fmt: skip
    return recorded


async def command_stream(redis: RedisClient, bot_id: str) -> str:
    """The stream a bot appends its commands to."""
    return _names.partition_commands(partition_of(bot_id, await farm_partitions(redis)))


async def legacy_drained(redis: RedisClient) -> bool:
    """True once the single-gateway stream and open-orders map of an upgraded farm are gone
    (the primary gateway drains them; partitions wait for it, so a bot's old commands run
    before its new ones)."""
    if await redis.stream_range(_names.COMMANDS, count=1):
        return False
    return not await redis.exists(_names.GATEWAY_OPEN)


class Term:
    """One held gateway lease (primary or partition): its stop signal and its loop's end."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self.done = asyncio.Event()  # set: the term's loop stops at its next step
        self.ended = asyncio.Event()  # set while the term's loop is not running
        self.ended.set()
        self.renewed_s = time.monotonic()
        self.reclaimed_s = 0.0  # partition: when its pending commands were last reclaimed
        self.loaded = False  # partition: open orders loaded, pending commands reclaimed
        self.ready = False  # primary: took over (exchange reloaded, upgrade drained)

    async def stop(self, timeout_s: float) -> bool:
        """Stop the loop; True once it has ended (no command in flight), False on timeout."""
        self.done.set()
        try:
            await asyncio.wait_for(self.ended.wait(), timeout=timeout_s)
        except TimeoutError:
            return False
        return True

"""Count the commands a Redis server runs: what a farm costs, measured from the server's side.

Two views, because they differ (checked on the embedded Valkey 8.1): ``INFO commandstats``
and ``total_commands_processed`` count the commands a Lua script runs *as well as* the
EVALSHA that ran it (a lease renewal is one EVALSHA, one GET and one PEXPIRE there), and
``CLIENT LIST``'s ``tot-cmds`` does too. Only MONITOR tells them apart: a command a script
runs is shown as coming from ``lua``. :class:`CommandCounter` listens on MONITOR and counts
each command by name, split into ``client`` (what clients sent: one per request, each a
parse, a dispatch and a share of a round trip) and ``script`` (run inside a script, no round
trip); :func:`commandstats` reads the server's own per-command totals.

MONITOR sees every client of the server, so measure on a server of its own (an embedded one
in a temporary folder); it is a measuring tool for tests and benches, not for production.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from omegafarm.core.errors import StoreError
from omegafarm.store.client import RedisClient


@dataclass
class CommandCounts:
    """Commands seen while counting, by lower-case name."""

    client: Counter[str] = field(default_factory=Counter)
    script: Counter[str] = field(default_factory=Counter)

    @property
    def client_total(self) -> int:
        """Commands clients sent (a script call counts once)."""
        return sum(self.client.values())

    @property
    def total(self) -> int:
        """Every command, those run inside scripts included (as ``commandstats`` counts)."""
        return self.client_total + sum(self.script.values())

    def minus(self, other: CommandCounts) -> CommandCounts:
        """These counts less ``other``'s (a baseline), floored at zero per name."""
        return CommandCounts(self.client - other.client, self.script - other.script)


class CommandCounter:
    """Counts the server's commands while running (``async with``; read :attr:`counts`)."""

    def __init__(self, redis: RedisClient) -> None:
        raw = redis._raw  # inside store: the one package that sees redis-py
        if isinstance(raw, RedisCluster):
            raise StoreError("command counting needs one server (MONITOR is per node)")
        self._raw: Redis = raw
        self.counts = CommandCounts()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def __aenter__(self) -> CommandCounter:
        self._task = asyncio.create_task(self._listen())
        waiter = asyncio.ensure_future(self._ready.wait())
        await asyncio.wait([waiter, self._task], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if self._task.done():
            self._task.result()  # MONITOR failed: say why
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def take(self) -> CommandCounts:
        """The counts so far, and start afresh (one window ends, the next begins)."""
        counts, self.counts = self.counts, CommandCounts()
        return counts

    async def close(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self) -> None:
        try:
            async with self._raw.monitor() as monitor:
                self._ready.set()
                connection: Any = monitor.connection
                while True:
                    line = await connection.read_response()
                    self._count(line.decode(errors="replace") if isinstance(line, bytes) else line)
        except (RedisError, OSError) as exc:
            raise StoreError(f"redis MONITOR failed: {exc}") from None

    def _count(self, line: str) -> None:
        """``1700000000.123456 [0 unix:/path] "evalsha" "..."`` or ``[0 lua] "get" ...``."""
        start, end = line.find("["), line.find("]")
        if start < 0 or end < 0:
            return
        source = line[start + 1 : end].split(" ", 1)[-1]
        quoted = line[end + 1 :].split('"', 2)
        if len(quoted) < 2:
            return
        name = quoted[1].lower()
        (self.counts.script if source == "lua" else self.counts.client)[name] += 1


async def commandstats(redis: RedisClient) -> dict[str, int]:
    """The server's calls per command since its start or ``CONFIG RESETSTAT`` (commands run by
    scripts included)."""
    info: dict[str, Any] = await redis._call(  # inside store
        "info",
        redis._raw.info("commandstats"),
    )
    out: dict[str, int] = {}
    for key, value in info.items():
        name = key.removeprefix("cmdstat_")
        if isinstance(value, dict):
            out[name] = int(value.get("calls", 0))
    return out

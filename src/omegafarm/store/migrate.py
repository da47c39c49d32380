"""Upgrading a farm's Redis in place: names of the older key layout to today's.

Layout 1 (up to the Redis Cluster work) named a bot's keys without a hash tag
(``state:bot:<id>``, ``bot:<id>:updates`` …) and the gateway's too (``gw:commands``,
``state:gw:open``, ``state:gw:order:<cid>``). Layout 2 (:mod:`omegafarm.store.keys`) tags them
(``state:bot:{bot:<id>}``, ``gw:{gateway}:commands`` …). New code reading an old farm would find
no ledger and start every bot from its capital while its positions stay open on the exchange:
so the farm's processes refuse to start on a layout-1 Redis (:func:`check_layout`) and
``omega store migrate`` renames, once, with the farm stopped:

* durable names are renamed (``RENAME`` keeps a stream's consumer groups and pending entries);
  a fencing counter is merged as the larger of the two values, so tokens never go back;
* names that only live for seconds (status records, worker heartbeats, rate-limit buckets) are
  deleted: they are written again within a lease TTL;
* a lease still held means an old worker still runs: nothing is changed, the user is told to
  stop it (a lease expires within its TTL after its worker stops).

It runs on the single server layout 1 ran on (a cluster cannot rename across slots): migrate
first, then move the data to a cluster. When nothing old is left it writes
:data:`~omegafarm.store.keys.LAYOUT_KEY`, so later starts check one key instead of scanning.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from omegafarm.store import keys as _names
from omegafarm.store.client import RedisClient
from omegafarm.store.errors import StoreConfigurationError

Kind = Literal["rename", "merge-fence", "delete", "held"]

# A rename that never overwrites: 1 moved, 0 the new name exists already (a conflict).
_RENAME = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('RENAME', KEYS[1], KEYS[2])
return 1
"""
# The larger of two fencing counters under the new name.
_MERGE_FENCE = """
local old = tonumber(redis.call('GET', KEYS[1]) or '0')
local new = tonumber(redis.call('GET', KEYS[2]) or '0')
redis.call('SET', KEYS[2], math.max(old, new))
redis.call('DEL', KEYS[1])
return 1
"""

_ID = r"([a-z0-9][a-z0-9_]{0,23})"  # a bot id (BotSettings.id)
_KEYS = _names.Keys()


def _stream(name: str) -> str:
    """The relative key of a stream (streams live under ``stream:``, see ``Keys.stream``)."""
    return _KEYS.relative(_KEYS.stream(name))


_RULES: list[tuple[re.Pattern[str], Kind, Callable[[str], str] | None]] = [
    (re.compile(rf"state:bot:{_ID}"), "rename", _names.bot_state),
    (re.compile(rf"state:farm:desired:{_ID}"), "rename", _names.desired),
    (re.compile(rf"stream:bot:{_ID}:updates"), "rename", lambda b: _stream(_names.updates(b))),
    (re.compile(rf"stream:bot:{_ID}:equity"), "rename", lambda b: _stream(_names.equity(b))),
    (re.compile(rf"state:fence:bot:{_ID}"), "merge-fence", _names.fence),
    (re.compile(r"state:gw:order:([^{}]+)"), "rename", _names.order_record),
    (re.compile(r"state:gw:open"), "rename", lambda _: _names.GATEWAY_OPEN),
    (re.compile(r"stream:gw:commands"), "rename", lambda _: _stream(_names.COMMANDS)),
    (re.compile(rf"lock:lease:bot:{_ID}"), "held", None),
    (re.compile(rf"state:farm:status:{_ID}"), "delete", None),
    (re.compile(r"health:worker:[^{}]+"), "delete", None),
    (re.compile(r"rl:[^{}]+"), "delete", None),
]


@dataclass(frozen=True)
class Move:
    """What happens to one layout-1 name."""

    old: str
    kind: Kind
    new: str | None = None


@dataclass
class Report:
    """What ``migrate`` found and did (``done`` is False for a dry run or a refusal)."""

    moves: list[Move]
    conflicts: list[Move] = field(default_factory=list)  # the new name existed: left alone
    done: bool = False

    @property
    def held(self) -> list[Move]:
        """Leases of layout-1 workers still running."""
        return [m for m in self.moves if m.kind == "held"]


def plan(names: Iterable[str]) -> list[Move]:
    """The moves for these relative names (names of today's layout are left out)."""
    out = []
    for name in sorted(names):
        if "{" in name:  # every layout-2 name that a rule could match carries a tag
            continue
        for pattern, kind, new in _RULES:
            match = pattern.fullmatch(name)
            if match is not None:
                target = None if new is None else new(match.group(1) if match.groups() else "")
                out.append(Move(name, kind, target))
                break
    return out


async def find_old(redis: RedisClient) -> list[Move]:
    """The farm's layout-1 names (one SCAN of the farm's keys)."""
    return plan(await redis.scan_keys("*"))


async def migrate(redis: RedisClient, *, dry_run: bool = False) -> Report:
    """Move every layout-1 name to today's layout (see the module docstring)."""
    report = Report(await find_old(redis))
    if dry_run or report.held:
        return report
    if report.moves and redis.settings.topology == "cluster":
        raise StoreConfigurationError(
            "this cluster holds keys of the old layout: migrate on the single server the farm "
            "ran on (`omega store migrate`), then move the data to the cluster"
        )
    rename = redis.script(_RENAME, name="migrate_rename")
    merge = redis.script(_MERGE_FENCE, name="migrate_fence")
    for move in report.moves:
        if move.kind == "delete":
            await redis.delete(move.old)
        elif move.kind == "merge-fence" and move.new is not None:
            await merge(keys=[move.old, move.new])
        elif move.new is not None and not await rename(keys=[move.old, move.new]):
            report.conflicts.append(move)
    if not report.conflicts:
        await redis.set(_names.LAYOUT_KEY, _names.LAYOUT)
    report.done = True
    return report


async def check_layout(redis: RedisClient) -> None:
    """Refuse to run a farm on a Redis that still holds layout-1 names (one GET once marked;
    a SCAN of the farm's keys the first time, which then marks a clean Redis)."""
    if await redis.get(_names.LAYOUT_KEY) == _names.LAYOUT:
        return
    old = [m for m in await find_old(redis) if m.kind != "delete"]
    if old:
        raise StoreConfigurationError(
            f"this Redis holds the farm in an older key layout ({len(old)} names, e.g. "
            f"{old[0].old!r}): stop every farm process and run `omega store migrate`"
        )
    await redis.set(_names.LAYOUT_KEY, _names.LAYOUT)

"""Bot leases: each bot runs on exactly one worker at a time, with a fencing token.

A lease is a Redis key (:func:`omegafarm.store.keys.lease`) holding ``"{worker}|{token}"``
with a TTL. Acquiring increments the bot's fence counter first, so every new holder has a
larger token than any before it; renewing and releasing are compare-and-set Lua scripts, so a
worker whose lease expired can never renew or release someone else's. The token travels with
every order command; the gateway drops commands whose token is older than one it has already
seen, so a worker that lost its lease without noticing (a long GC pause, a partition) cannot
place orders.

The lease, the fence counter and the bot's state share one hash tag (see
:mod:`omegafarm.store.keys`), so the two-key scripts below run on a Redis Cluster too. They run
through :meth:`RedisClient.script`: a server away is ``StoreUnavailableError``, while an error
in a script is a ``StoreError`` (a bug to fix, never reported as an outage).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omegafarm.store import RedisClient
from omegafarm.store import keys as _names

_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
return token
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RENEW_ALL = """
local out = {}
for i = 1, #KEYS / 2 do
  if redis.call('GET', KEYS[2 * i - 1]) == ARGV[i + 2] then
    redis.call('PEXPIRE', KEYS[2 * i - 1], ARGV[1])
    redis.call('PEXPIRE', KEYS[2 * i], ARGV[2])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_FENCED_SET = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
return 1
"""

# One event of a bot is one round trip: check the lease, save the hot state, append what left it
# to the event stream (each XADD trims it to about ARGV[3] entries: MAXLEN ~), then the status
# record (with its TTL), once per candle the equity sample, and the live feed's messages.
# Nothing is written once the lease has moved. KEYS: lease, state, events, status, equity.
# ARGV: lease value, state, events maxlen, event count n, n events, status ('' = none), status
# ttl ms, sample ('' = none), equity maxlen, feed channel, message count m, m messages.
_FENCED_SAVE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
local n = tonumber(ARGV[4])
for i = 1, n do
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'd', ARGV[4 + i])
end
if ARGV[5 + n] ~= '' then redis.call('SET', KEYS[4], ARGV[5 + n], 'PX', ARGV[6 + n]) end
if ARGV[7 + n] ~= '' then
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[8 + n], '*', 'd', ARGV[7 + n])
end
for i = 1, tonumber(ARGV[10 + n]) do redis.call('PUBLISH', ARGV[9 + n], ARGV[10 + n + i]) end
return 1
"""
EVENTS_MAXLEN = 10_000  # per bot (approximate: MAXLEN ~), in the stream bot:{bot:<id>}:events


@dataclass(frozen=True)
class BotWrite:
    """What one event of a bot saves (encoded values): :meth:`Leases.fenced_save`."""

    state: bytes
    events: list[bytes]
    status: bytes | None = None
    status_ttl_ms: int = 0
    sample: bytes | None = None  # an equity sample
    equity_maxlen: int = 10_000
    channel: str = ""  # the live feed's channel (relative name) for ``messages``
    messages: list[bytes] = field(default_factory=list)  # published after the writes


@dataclass(frozen=True)
class Lease:
    """A held lease: which bot, which worker, which fencing token."""

    bot_id: str
    worker_id: str
    token: int

    @property
    def value(self) -> str:
        return f"{self.worker_id}|{self.token}"


class Leases:
    """Acquire, renew and release bot leases for one worker."""

    def __init__(self, redis: RedisClient, worker_id: str, ttl_s: float) -> None:
        self.redis = redis
        self.worker_id = worker_id
        self.ttl_ms = int(ttl_s * 1000)

    async def _eval(self, script: str, keys: list[str], args: list[str | bytes]) -> int:
        reply = await self.redis.script(script, name="lease")(keys, args)
        return int(reply or 0)

    async def acquire(self, bot_id: str) -> Lease | None:
        """Take the bot's lease if nobody holds it (None when someone does)."""
        keys = [_names.lease(bot_id), _names.fence(bot_id)]
        token = await self._eval(_ACQUIRE, keys, [self.worker_id, str(self.ttl_ms)])
        return Lease(bot_id, self.worker_id, token) if token else None

    async def renew(self, lease: Lease) -> bool:
        """Extend a lease we still hold; False if it expired or moved."""
        keys = [_names.lease(lease.bot_id)]
        return bool(await self._eval(_RENEW, keys, [lease.value, str(self.ttl_ms)]))

    async def renew_all(self, leases: list[Lease], status_ttl_ms: int) -> set[str]:
        """Extend every lease we still hold and the TTL of each bot's status record with it, in
        one script (one per bot on a Redis Cluster, where a script's keys share one slot);
        returns the bots whose lease expired or moved."""
        batches = [[x] for x in leases] if self.redis.is_cluster else [leases] if leases else []
        lost: set[str] = set()
        for batch in batches:
            keys = [k for x in batch for k in (_names.lease(x.bot_id), _names.status(x.bot_id))]
            args: list[str | bytes] = [str(self.ttl_ms), str(status_ttl_ms)]
            args += [x.value for x in batch]
            reply = await self.redis.script(_RENEW_ALL, name="lease")(keys, args)
            lost |= {x.bot_id for x, ok in zip(batch, reply or [], strict=False) if not int(ok)}
        return lost

    async def release(self, lease: Lease) -> bool:
        """Give a lease back (only if we still hold it)."""
        return bool(await self._eval(_RELEASE, [_names.lease(lease.bot_id)], [lease.value]))

    async def fenced_set(self, lease: Lease, key: str, encoded: bytes) -> bool:
        """Write ``key`` only while ``lease`` is still ours (bot state writes)."""
        keys = [_names.lease(lease.bot_id), key]
        return bool(await self._eval(_FENCED_SET, keys, [lease.value, encoded]))

    async def fenced_save(self, lease: Lease, write: BotWrite) -> bool:
        """Save a bot's hot state, append its events, write its status and equity sample, in
        one script and only while ``lease`` is still ours (False: it moved; nothing written)."""
        k, bot = self.redis.keys, lease.bot_id
        keys = [k.key(_names.lease(bot)), k.key(_names.bot_state(bot)),
                k.stream(_names.bot_events(bot)), k.key(_names.status(bot)),
                k.stream(_names.equity(bot))]  # fmt: skip
        args: list[str | bytes] = [lease.value, write.state, str(EVENTS_MAXLEN),
                                   str(len(write.events)), *write.events,
                                   write.status or b"", str(max(1, write.status_ttl_ms)),
                                   write.sample or b"", str(write.equity_maxlen),
                                   k.channel(write.channel) if write.messages else "",
                                   str(len(write.messages)), *write.messages]  # fmt: skip
        script = self.redis.script(_FENCED_SAVE, name="bot_save")
        return bool(await script.run_absolute(keys, args))

    async def holder(self, bot_id: str) -> str | None:
        """Which worker holds the bot's lease right now."""
        value = await self.redis.get_text(_names.lease(bot_id))
        return None if value is None else value.split("|", 1)[0]


class GatewayLease:
    """The farm's one gateway lease (``lock:lease:{gateway}``): the same scripts as a bot's.

    The active gateway renews it every ``ttl / 3``; a standby tries to take it as often, so it
    takes over within one TTL of the active one's death. Its fencing token grows with every
    holder; a gateway checks it still holds the lease before each command it executes, and the
    durable paper exchange writes only under it, so two gateways never execute one command.
    """

    def __init__(self, redis: RedisClient, gateway_id: str, ttl_s: float) -> None:
        self._leases = Leases(redis, gateway_id, ttl_s)
        self.redis, self.gateway_id, self.ttl_ms = redis, gateway_id, self._leases.ttl_ms

    @property
    def key(self) -> str:
        """The lease's absolute key (for fenced writes elsewhere)."""
        return self.redis.keys.key(_names.GATEWAY_LEASE)

    async def acquire(self) -> Lease | None:
        """Take the lease if nobody holds it."""
        keys = [_names.GATEWAY_LEASE, _names.GATEWAY_FENCE]
        args: list[str | bytes] = [self.gateway_id, str(self.ttl_ms)]
        token = await self._leases._eval(_ACQUIRE, keys, args)
        return Lease("gateway", self.gateway_id, token) if token else None

    async def renew(self, lease: Lease) -> bool:
        """Extend the lease; False if it expired or moved."""
        args: list[str | bytes] = [lease.value, str(self.ttl_ms)]
        return bool(await self._leases._eval(_RENEW, [_names.GATEWAY_LEASE], args))

    async def release(self, lease: Lease) -> bool:
        """Give the lease back (a standby takes over at its next try, not after a TTL)."""
        return bool(await self._leases._eval(_RELEASE, [_names.GATEWAY_LEASE], [lease.value]))

    async def holds(self, lease: Lease) -> bool:
        """Whether ``lease`` is still the current one (checked before every command)."""
        return await self.redis.get_text(_names.GATEWAY_LEASE) == lease.value

    async def holder(self) -> str | None:
        """``gateway_id|token`` of the active gateway (None: no gateway is active)."""
        return await self.redis.get_text(_names.GATEWAY_LEASE)


async def newest_token(redis: RedisClient, bot_id: str) -> int:
    """The token of the bot's most recent lease (0 if it never had one)."""
    value = await redis.get_text(_names.fence(bot_id))
    return int(value) if value else 0

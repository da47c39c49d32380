"""Bot leases: each bot runs on exactly one worker at a time, with a fencing token.

A lease is a Redis key (:func:`omegafarm.store.keys.lease`). On one server it holds
``"{worker}|{token}|{nonce}"`` without a TTL and is held while the worker's session key
(:func:`omegafarm.store.keys.worker_lease`) holds that nonce: a worker renews one key per
round, not one per bot (see :class:`Leases`). On a Redis Cluster it holds ``"{worker}|{token}"``
with a TTL of its own. Acquiring increments the bot's fence counter first, so every new holder
has a larger token than any before it; renewing, releasing and every write compare the lease's
value, so a worker whose lease expired can never renew, release or write someone else's.
The token travels with every order command; the gateway drops commands whose token is older
than one it has already seen, so a worker that lost its lease without noticing (a long GC
pause, a partition) cannot place orders.

The lease, the fence counter and the bot's state share one hash tag (see
:mod:`omegafarm.store.keys`), so the two-key scripts below run on a Redis Cluster too. They run
through :meth:`RedisClient.script`: a server away is ``StoreUnavailableError``, while an error
in a script is a ``StoreError`` (a bug to fix, never reported as an outage).
"""

from __future__ import annotations

import asyncio
import uuid
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
if ARGV[5 + n] ~= '' then
  if ARGV[6 + n] == '0' then redis.call('SET', KEYS[4], ARGV[5 + n])
  else redis.call('SET', KEYS[4], ARGV[5 + n], 'PX', ARGV[6 + n]) end
end
if ARGV[7 + n] ~= '' then
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[8 + n], '*', 'd', ARGV[7 + n])
end
for i = 1, tonumber(ARGV[10 + n]) do redis.call('PUBLISH', ARGV[9 + n], ARGV[10 + n + i]) end
return 1
"""

# On one server (not a cluster) a bot's lease has no TTL: it names its worker's *session*
# (``"{worker}|{token}|{nonce}"``) and is held while the session key ``lock:lease:worker:{id}``
# still holds that nonce; the worker renews its session (one key) once per round, not every
# bot's lease. A lease whose session expired (or was replaced by a restarted process with the
# same id: its own id with another nonce) is free. KEYS: lease, fence, own session. ARGV:
# worker id, ttl ms, nonce, session key prefix (absolute).
_ACQUIRE_SESSION = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local w, n = string.match(cur, '^(.*)|%d+|(%w+)$')
  if n and w ~= ARGV[1] and redis.call('GET', ARGV[4] .. w) == n then return 0 end
  if n == ARGV[3] then return 0 end
  if not n and redis.call('PTTL', KEYS[1]) > 0 then return 0 end
end
redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[2])
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token .. '|' .. ARGV[3])
return token
"""
# The session's renewal, and (when asked) which of its bots' leases are still ours: one MGET
# whatever the bot count. KEYS: session, then the leases. ARGV: nonce, ttl ms, lease values.
# Returns {session was alive (0/1), per lease 1 = still ours}.
_RENEW_SESSION = """
local alive = redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'GET') == ARGV[1]
local out = {alive and 1 or 0}
if #KEYS > 1 then
  local cur = redis.call('MGET', unpack(KEYS, 2))
  for i = 1, #KEYS - 1 do out[i + 1] = (cur[i] == ARGV[i + 2]) and 1 or 0 end
end
return out
"""
# Many bots' events in one script (one server only): one MGET checks every lease, one MSET
# writes every hot state and status record, then each bot's events and equity sample, then
# the feed's messages, all in one ``{"kind": "batch", "events": [...]}`` message (the API's
# feed hub hands them to its clients one by one). A bot whose lease moved writes nothing (0
# in the reply). KEYS: per bot
# lease, state, events, status, equity. ARGV: events maxlen, equity maxlen, feed channel, bot
# count; per bot: lease value, state, status ('' = none), sample ('' = none), event count n,
# n events, message count m, m messages.
_FENCED_SAVE_MANY = """
local bots = tonumber(ARGV[4])
local leases = {}
for i = 1, bots do leases[i] = KEYS[5 * i - 4] end
local cur = redis.call('MGET', unpack(leases))
local ok, mset, publish, a = {}, {}, {}, 5
for i = 1, bots do
  local mine = cur[i] == ARGV[a]
  ok[i] = mine and 1 or 0
  local state, status, sample, n = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], tonumber(ARGV[a + 4])
  a = a + 5
  if mine then
    mset[#mset + 1] = KEYS[5 * i - 3]
    mset[#mset + 1] = state
    if status ~= '' then
      mset[#mset + 1] = KEYS[5 * i - 1]
      mset[#mset + 1] = status
    end
    for e = 0, n - 1 do
      redis.call('XADD', KEYS[5 * i - 2], 'MAXLEN', '~', ARGV[1], '*', 'd', ARGV[a + e])
    end
    if sample ~= '' then
      redis.call('XADD', KEYS[5 * i], 'MAXLEN', '~', ARGV[2], '*', 'd', sample)
    end
  end
  a = a + n
  local m = tonumber(ARGV[a])
  if mine then for k = 1, m do publish[#publish + 1] = ARGV[a + k] end end
  a = a + m + 1
end
if #mset > 0 then redis.call('MSET', unpack(mset)) end
if #publish == 1 then redis.call('PUBLISH', ARGV[3], publish[1])
elseif #publish > 1 then  -- JSON texts (store/codec.py): one message carries them all
  redis.call('PUBLISH', ARGV[3], '{"kind":"batch","events":[' .. table.concat(publish, ',') .. ']}')
end
return ok
"""
SAVE_BATCH = 500  # bots per batched save script (Lua's unpack has a limit of ~8,000 values)
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
    """A held lease: which bot, which worker, which fencing token (and, on one server, which
    session of the worker: see :class:`Leases`)."""

    bot_id: str
    worker_id: str
    token: int
    nonce: str = ""

    @property
    def value(self) -> str:
        base = f"{self.worker_id}|{self.token}"
        return f"{base}|{self.nonce}" if self.nonce else base


@dataclass
class _Pending:
    lease: Lease
    write: BotWrite
    done: asyncio.Future[bool]


class Leases:
    """Acquire, renew and release bot leases for one worker.

    On one server (standalone or Sentinel) a bot's lease names the worker's *session*
    (``"{worker}|{token}|{nonce}"``, no TTL) and the worker renews only its session key
    (:func:`omegafarm.store.keys.worker_lease`, a TTL of ``ttl_s``): idle renewal costs one
    command per worker per round, not per bot. When the session expires (the worker died or
    stalled) every lease naming it is free; a restarted process with the same id starts a new
    session (a new nonce), so its old leases are free at once. On a Redis Cluster, where a
    script's keys share one slot, each lease has its own TTL and is renewed on its own.

    Every write checks the bot's lease value (``fenced_*``): a lease another worker took has a
    new value (a larger token), so a worker that lost it writes nothing, whatever its session.
    With ``batch``, :meth:`fenced_save` calls made in the same event-loop turn (the bots of one
    candle) run as one script (:data:`SAVE_BATCH` bots at most): one MGET checks every lease,
    one MSET writes the hot states and status records.
    """

    def __init__(self, redis: RedisClient, worker_id: str, ttl_s: float, *, batch: bool = False):
        self.redis = redis
        self.worker_id = worker_id
        self.ttl_ms = int(ttl_s * 1000)
        self.nonce = uuid.uuid4().hex[:12]
        self._batch = batch
        self._session: bool | None = None  # known once connected
        self._pending: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        self._save_keys: dict[str, list[str]] = {}  # bot id -> its keys in a batched save

    @property
    def session(self) -> bool:
        """Leases name the worker's session (one server), not TTLs of their own (a cluster)."""
        if self._session is None:
            self._session = not self.redis.is_cluster
        return self._session

    @property
    def batch(self) -> bool:
        """Saves of one event-loop turn run as one script (one server only)."""
        return self._batch and self.session

    @property
    def status_ttl_ms(self) -> int:
        """The TTL of a status record: none (0) with sessions (a bot's liveness is its
        worker's: see :mod:`._view`), else three lease periods, extended at each renewal."""
        return 0 if self.session else 3 * self.ttl_ms

    async def _eval(self, script: str, keys: list[str], args: list[str | bytes]) -> int:
        reply = await self.redis.script(script, name="lease")(keys, args)
        return int(reply or 0)

    async def acquire(self, bot_id: str) -> Lease | None:
        """Take the bot's lease if nobody holds it (None when someone does)."""
        if not self.session:
            keys = [_names.lease(bot_id), _names.fence(bot_id)]
            token = await self._eval(_ACQUIRE, keys, [self.worker_id, str(self.ttl_ms)])
            return Lease(bot_id, self.worker_id, token) if token else None
        keys = [_names.lease(bot_id), _names.fence(bot_id), _names.worker_lease(self.worker_id)]
        args: list[str | bytes] = [self.worker_id, str(self.ttl_ms), self.nonce,
                                   self.redis.keys.key(_names.WORKER_LEASE_PREFIX)]  # fmt: skip
        token = await self._eval(_ACQUIRE_SESSION, keys, args)
        return Lease(bot_id, self.worker_id, token, self.nonce) if token else None

    async def renew(self, lease: Lease) -> bool:
        """Extend a lease we still hold; False if it expired or moved."""
        if self.session:
            return not await self.renew_all([lease], check=True)
        keys = [_names.lease(lease.bot_id)]
        return bool(await self._eval(_RENEW, keys, [lease.value, str(self.ttl_ms)]))

    async def renew_all(
        self, leases: list[Lease], status_ttl_ms: int = 0, *, check: bool = True
    ) -> set[str]:
        """Extend every lease we still hold; returns the bots whose lease expired or moved.

        With sessions: one script renews the worker's session and, with ``check`` (or when the
        session had lapsed), reads every lease in one MGET. On a cluster: each lease and its
        status record's TTL (``status_ttl_ms``), one script per bot."""
        if self.session:
            return await self._renew_session(leases, check=check)
        batches = [[x] for x in leases]
        lost: set[str] = set()
        for batch in batches:
            keys = [k for x in batch for k in (_names.lease(x.bot_id), _names.status(x.bot_id))]
            args: list[str | bytes] = [str(self.ttl_ms), str(status_ttl_ms)]
            args += [x.value for x in batch]
            reply = await self.redis.script(_RENEW_ALL, name="lease")(keys, args)
            lost |= {x.bot_id for x, ok in zip(batch, reply or [], strict=False) if not int(ok)}
        return lost

    async def _renew_session(self, leases: list[Lease], *, check: bool) -> set[str]:
        script = self.redis.script(_RENEW_SESSION, name="lease")
        session = _names.worker_lease(self.worker_id)
        base: list[str | bytes] = [self.nonce, str(self.ttl_ms)]
        if not check or not leases:
            await script([session], base)
            return set()
        lost: set[str] = set()
        for start in range(0, len(leases), SAVE_BATCH):
            batch = leases[start : start + SAVE_BATCH]
            keys = [session, *(_names.lease(x.bot_id) for x in batch)]
            found = await script(keys, [*base, *(x.value for x in batch)])
            lost |= {x.bot_id for x, ok in zip(batch, found[1:], strict=False) if not int(ok)}
        return lost

    async def release(self, lease: Lease) -> bool:
        """Give a lease back (only if we still hold it)."""
        self._save_keys.pop(lease.bot_id, None)  # its keys are named again if it comes back
        return bool(await self._eval(_RELEASE, [_names.lease(lease.bot_id)], [lease.value]))

    async def fenced_set(self, lease: Lease, key: str, encoded: bytes) -> bool:
        """Write ``key`` only while ``lease`` is still ours (bot state writes)."""
        keys = [_names.lease(lease.bot_id), key]
        return bool(await self._eval(_FENCED_SET, keys, [lease.value, encoded]))

    async def fenced_save(self, lease: Lease, write: BotWrite) -> bool:
        """Save a bot's hot state, append its events, write its status and equity sample, in
        one script and only while ``lease`` is still ours (False: it moved; nothing written).
        With ``batch``: joined with the other bots' saves of this event-loop turn."""
        if self.batch:
            done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            self._pending.append(_Pending(lease, write, done))
            if self._flusher is None or self._flusher.done():
                self._flusher = asyncio.create_task(self._flush())
            return await done
        k, bot = self.redis.keys, lease.bot_id
        keys = [k.key(_names.lease(bot)), k.key(_names.bot_state(bot)),
                k.stream(_names.bot_events(bot)), k.key(_names.status(bot)),
                k.stream(_names.equity(bot))]  # fmt: skip
        args: list[str | bytes] = [lease.value, write.state, str(EVENTS_MAXLEN),
                                   str(len(write.events)), *write.events,
                                   write.status or b"", str(max(0, write.status_ttl_ms)),
                                   write.sample or b"", str(write.equity_maxlen),
                                   k.channel(write.channel) if write.messages else "",
                                   str(len(write.messages)), *write.messages]  # fmt: skip
        script = self.redis.script(_FENCED_SAVE, name="bot_save")
        return bool(await script.run_absolute(keys, args))

    async def _flush(self) -> None:
        """Run the pending saves, many bots per script, until none is left."""
        await asyncio.sleep(0)  # the other bots of this turn queue their saves first
        while self._pending:
            batch: list[_Pending] = []
            rest: list[_Pending] = []
            bots: set[str] = set()
            for item in self._pending:  # one channel, one write per bot, per script
                same = not batch or item.write.channel == batch[0].write.channel
                if same and len(batch) < SAVE_BATCH and item.lease.bot_id not in bots:
                    batch.append(item)
                    bots.add(item.lease.bot_id)
                else:
                    rest.append(item)
            self._pending = rest
            try:
                oks = await self._save_many(batch)
            except BaseException as exc:  # each caller sees the failure (Redis away)
                for item in batch:
                    if not item.done.done():
                        item.done.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for item, ok in zip(batch, oks, strict=True):
                if not item.done.done():
                    item.done.set_result(ok)

    async def _save_many(self, batch: list[_Pending]) -> list[bool]:
        k = self.redis.keys
        keys: list[str] = []
        channel = batch[0].write.channel
        args: list[str | bytes] = [str(EVENTS_MAXLEN), str(batch[0].write.equity_maxlen),
                                   k.channel(channel) if channel else "",
                                   str(len(batch))]  # fmt: skip
        for item in batch:
            bot, w = item.lease.bot_id, item.write
            messages = w.messages if channel else []
            bot_keys = self._save_keys.get(bot)
            if bot_keys is None:  # the same five keys at every save: named once per bot
                bot_keys = self._save_keys[bot] = [
                    k.key(_names.lease(bot)), k.key(_names.bot_state(bot)),
                    k.stream(_names.bot_events(bot)), k.key(_names.status(bot)),
                    k.stream(_names.equity(bot)),
                ]  # fmt: skip
            keys += bot_keys
            args += [item.lease.value, w.state, w.status or b"", w.sample or b"",
                     str(len(w.events)), *w.events, str(len(messages)), *messages]  # fmt: skip
        script = self.redis.script(_FENCED_SAVE_MANY, name="bot_save")
        reply = await script.run_absolute(keys, args)
        return [bool(int(x)) for x in reply]

    async def holder(self, bot_id: str) -> str | None:
        """Which worker holds the bot's lease right now (None: nobody, or a dead session)."""
        return await holder(self.redis, bot_id)


class GatewayLease:
    """A gateway lease: the farm's primary one (``lock:lease:gw:{gateway}``: market data, the
    paper venue) or one command partition's (``lock:lease:gw:{gateway:p<n>}``); the same
    scripts as a bot's.

    Its holder renews it every ``ttl / 3``; others try to take it as often, so it moves within
    one TTL of its holder's death. Its fencing token grows with every holder; a gateway checks
    it still holds the partition's lease before each command it executes, writes the
    partition's open orders only under it, and the durable paper exchange writes only under the
    primary lease, so two gateways never execute one command.
    """

    def __init__(
        self,
        redis: RedisClient,
        gateway_id: str,
        ttl_s: float,
        *,
        lease_key: str = _names.GATEWAY_LEASE,
        fence_key: str = _names.GATEWAY_FENCE,
        name: str = "gateway",
    ) -> None:
        self._leases = Leases(redis, gateway_id, ttl_s)
        self.redis, self.gateway_id, self.ttl_ms = redis, gateway_id, self._leases.ttl_ms
        self._lease_key, self._fence_key, self.name = lease_key, fence_key, name

    @classmethod
    def partition(
        cls, redis: RedisClient, gateway_id: str, ttl_s: float, partition: int
    ) -> GatewayLease:
        """The lease of command partition ``partition``."""
        return cls(
            redis, gateway_id, ttl_s, lease_key=_names.partition_lease(partition),
            fence_key=_names.partition_fence(partition), name=f"p{partition}",
        )  # fmt: skip

    @property
    def key(self) -> str:
        """The lease's absolute key (for fenced writes elsewhere)."""
        return self.redis.keys.key(self._lease_key)

    async def acquire(self) -> Lease | None:
        """Take the lease if nobody holds it."""
        keys = [self._lease_key, self._fence_key]
        args: list[str | bytes] = [self.gateway_id, str(self.ttl_ms)]
        token = await self._leases._eval(_ACQUIRE, keys, args)
        return Lease(self.name, self.gateway_id, token) if token else None

    async def renew(self, lease: Lease) -> bool:
        """Extend the lease; False if it expired or moved."""
        args: list[str | bytes] = [lease.value, str(self.ttl_ms)]
        return bool(await self._leases._eval(_RENEW, [self._lease_key], args))

    async def release(self, lease: Lease) -> bool:
        """Give the lease back (another gateway takes it at its next try, not after a TTL)."""
        return bool(await self._leases._eval(_RELEASE, [self._lease_key], [lease.value]))

    async def holds(self, lease: Lease) -> bool:
        """Whether ``lease`` is still the current one (checked before every command)."""
        return await self.redis.get_text(self._lease_key) == lease.value

    async def holder(self) -> str | None:
        """``gateway_id|token`` of the holder (None: nobody holds it)."""
        return await self.redis.get_text(self._lease_key)

    async def fenced_set(self, lease: Lease, key: str, encoded: bytes) -> bool:
        """Write ``key`` (same hash tag as the lease) only while ``lease`` is still the holder."""
        keys = [self._lease_key, key]
        return bool(await self._leases._eval(_FENCED_SET, keys, [lease.value, encoded]))


def _parse(value: str | None) -> tuple[str | None, str]:
    """(worker, session nonce) of a lease value ("" nonce: a lease with its own TTL)."""
    if value is None:
        return None, ""
    parts = value.rsplit("|", 2)
    return parts[0], parts[2] if len(parts) == 3 else ""


async def holders(redis: RedisClient, values: list[str | None]) -> list[str | None]:
    """The worker holding each lease value (as read from the bots' lease keys): None where
    there is none or its worker's session has expired (one MGET for every session)."""
    parsed = [_parse(v) for v in values]
    sessions = sorted({w for w, n in parsed if w is not None and n})
    found = await redis.get_many([_names.worker_lease(w) for w in sessions], text=True)
    alive = dict(zip(sessions, found, strict=True))
    return [w if w is not None and (not n or alive.get(w) == n) else None for w, n in parsed]


async def holder(redis: RedisClient, bot_id: str) -> str | None:
    """The worker holding the bot's lease right now (None: nobody, or its session expired)."""
    return (await holders(redis, [await redis.get_text(_names.lease(bot_id))]))[0]


async def newest_token(redis: RedisClient, bot_id: str) -> int:
    """The token of the bot's most recent lease (0 if it never had one)."""
    value = await redis.get_text(_names.fence(bot_id))
    return int(value) if value else 0

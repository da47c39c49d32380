"""A worker: runs the bots whose leases it holds, and takes its fair share of the farm.

Every ``lease_ttl_s / 2`` a worker beats (one script: its expiry in the ``WORKERS_LIVE`` sorted
set, on one server its session, and back the live workers and the farm's control version;
its heartbeat record only when what it says changed, and every 2 TTLs), and moves toward
``ceil(bots / workers)`` bots: it acquires free leases when it has fewer, and releases its
extra bots when it has more (so a new worker gets its share, and a dead worker's bots are
free again as soon as its session expires, a TTL after its last beat). The beat also says
when the soonest other worker's session expires unless it beats again; a worker that does not
(it died) is taken over by a round ``TAKEOVER_MARGIN_TTLS`` after that, not at the next
regular round, so a dead worker's bots move within 1.25 TTLs of its last beat. It re-reads the
bot list, desired states and halts only when the control version moved (``omega bots stop``,
reconciliation, a new farm file publish it on ``CONTROL_CHANNEL``, which wakes the balance
loop at once) and every ``CONTROL_REREAD_TTLS`` TTLs as a safety net; that round also
checks, in the beat, that every lease is still its own. On a Redis Cluster, where each lease
has its own TTL renewed at each round, rounds stay every TTL/3 (``CLUSTER_BEATS_PER_TTL``).

Nothing is polled per bot. Candles, tickers and wake-ups arrive on one pub/sub subscription
per worker: the gateway publishes on ``wake:{bot}`` right after appending to a bot's update
stream, and the worker then reads the streams of every woken bot in one XREADGROUP. Pub/sub
is at-most-once (a wake-up published while the subscription reconnects is lost), so the
streams stay the truth: each balance round also reads the streams of bots not read for
``SWEEP_AFTER_TTLS`` lease TTLs, and after a reconnect every bot's stream is read at once; a
lost wake-up delays an update, it never loses it. When Redis is unreachable nothing can be
saved or sent, so the bots pause; when it answers again the worker renews (or re-acquires and
reconciles) and goes on.

The three loops run under a :class:`~omegafarm.core.supervisor.Supervisor`: an unexpected
exception is logged with its traceback, counted on ``/metrics`` and the loop restarts; the
heartbeat carries the worker's health (paused, degraded and why) and, per bot, when it last
heard a candle, so a deaf bot is reported (see :mod:`.staleness`) instead of sitting silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import socket
import time
import uuid
from typing import Any

import structlog
from prometheus_client import CollectorRegistry

from omegafarm.bots import _view
from omegafarm.bots.config import BotSettings, FarmSettings
from omegafarm.bots.latency import LatencyWindow
from omegafarm.bots.lease import SAVE_BATCH, Leases
from omegafarm.bots.live import FeedRewoundError, LeaseLostError, LiveBot
from omegafarm.bots.staleness import silent_after_s
from omegafarm.core.errors import OmegaError, StoreError, TransientError
from omegafarm.core.health import HealthState
from omegafarm.core.supervisor import Supervisor
from omegafarm.store import RedisClient, Subscription, encode
from omegafarm.store import keys as _names

_log = structlog.get_logger("omegafarm.bots.worker")
BEATS_PER_TTL = 2  # balance rounds (beats) per lease TTL: a beat may come TTL/2 late
# On a Redis Cluster every lease has a TTL of its own, renewed at each round: the round period
# is each lease's tolerance (and how soon a node's death pauses the worker), so it stays TTL/3.
CLUSTER_BEATS_PER_TTL = 3
CONTROL_REREAD_TTLS = 2  # re-read the bot list at least every this many TTLs (in rounds below)
TAKEOVER_MARGIN_TTLS = 0.25  # a round this long after another worker's session would expire
HEARTBEAT_TTLS = 3.0  # the heartbeat record's TTL: it is rewritten at least every 2 TTLs
SWEEP_AFTER_TTLS = 3.0  # read a bot's stream if it was not read for this many lease TTLs
READ_BATCH = 200  # updates read per stream per XREADGROUP

# A worker's beat, in its {workers} slot: its expiry in the live set and, back, the live workers
# (count, and ms until the soonest other one expires if it does not beat again: -1 none). The
# heartbeat record ARGV[1] is written only when given ('' = unchanged since the last write; its
# TTL ARGV[6] outlives the gap). When ARGV[5] is '1' (a control message arrived, or every
# reread_rounds rounds: 2 TTLs) stale members are dropped and the farm's control version read
# (-1: not read). On one server it also renews the worker's session (KEYS[4], nonce ARGV[7]:
# see bots/lease.py), says whether it had lapsed and, when leases follow (KEYS[5..], their
# values ARGV[8..]), which are still ours: one MGET (1 = ours).
_BEAT = """
local now = tonumber(ARGV[3])
if ARGV[1] ~= '' then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[6]) end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[4])
local version = '-1'
if ARGV[5] == '1' then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])
  version = redis.call('GET', KEYS[3]) or '0'
end
local alive, ours = 1, {}
if KEYS[4] then
  alive = (redis.call('SET', KEYS[4], ARGV[7], 'PX', ARGV[2], 'GET') == ARGV[7]) and 1 or 0
  if #KEYS > 4 then
    local cur = redis.call('MGET', unpack(KEYS, 5))
    for i = 1, #KEYS - 4 do ours[i] = (cur[i] == ARGV[i + 7]) and 1 or 0 end
  end
end
local live = redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[3], '+inf', 'WITHSCORES')
local soonest = -1
for i = 1, #live, 2 do
  if live[i] ~= ARGV[4] then
    local left = tonumber(live[i + 1]) - now
    if soonest < 0 or left < soonest then soonest = left end
  end
end
return {#live / 2, version, alive, soonest, ours}
"""
_LEAVE = """
redis.call('DEL', KEYS[1])
if KEYS[3] then redis.call('DEL', KEYS[3]) end
return redis.call('ZREM', KEYS[2], ARGV[1])
"""


def new_worker_id() -> str:
    """host-pid-random: unique, and says where the worker runs."""
    host = socket.gethostname().split(".")[0][:16]
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker:
    """Holds leases and runs bots until stopped."""

    def __init__(
        self,
        redis: RedisClient,
        settings: FarmSettings,
        worker_id: str | None = None,
        *,
        metrics_registry: CollectorRegistry | None = None,
    ) -> None:
        self.redis, self.settings = redis, settings
        self.id = worker_id or new_worker_id()
        self.leases = Leases(redis, self.id, settings.lease_ttl_s, batch=True)
        self.bots: dict[str, LiveBot] = {}
        self.paused = False
        self.pause_reason = ""
        self.supervisor = Supervisor("worker", metrics_registry=metrics_registry)
        self.last_candle_ms: dict[str, int] = {}  # bot id -> when its last candle arrived
        self.latency = LatencyWindow()  # candle sent -> bot decided, per heartbeat
        self.candles_filled = 0  # candles bots missed (lost pub/sub) and took from the history
        self._catch_up = False  # candles may have been lost: bots catch up on the history
        self._sub: Subscription | None = None
        self._channels: dict[str, list[str]] = {}
        self._dirty: set[str] = set()  # bots whose update stream should be read now
        self._woken = asyncio.Event()  # _dirty gained a bot
        self._kick = asyncio.Event()  # the control version moved: balance now
        self._read_at: dict[str, float] = {}  # bot id -> monotonic time its stream was read
        self._reconnects = 0  # the subscription's count when last seen
        self._control: tuple[int, list[BotSettings]] | None = None  # (version, wanted bots)
        self._raw_specs: dict[str, Any] = {}
        self._parsed: dict[str, BotSettings] = {}
        self._rounds = 0
        self._renewed_at = 0.0
        self.live = 1  # live workers at the last beat
        self._takeover_in_s = -1.0  # when the soonest other worker's session may expire (-1: none)
        self._beat_said: Any = None  # the heartbeat as last written (at_ms aside)
        self._session_alive = True  # the worker's session had not lapsed at the last beat
        self._control_moved = False  # a control message (or a reconnect) since the last beat
        self._rng = random.Random(self.id)  # noqa: S311  # spreads lease attempts, not crypto

    async def run(self, stop: asyncio.Event) -> None:
        """Balance leases, dispatch market data and order updates until ``stop``."""
        self._sub = self.redis.subscription()
        sup = self.supervisor
        sup.start("balance", lambda: self._balance_loop(stop))
        sup.start("market", lambda: self._market_loop(stop))
        sup.start("updates", lambda: self._updates_loop(stop))
        try:
            await stop.wait()
        finally:
            await sup.close()
            for bot_id, bot in list(self.bots.items()):
                self.supervisor.forget(f"bot:{bot_id}")
                with contextlib.suppress(OmegaError):
                    await bot.stop()
            self.bots.clear()
            self.last_candle_ms.clear()
            with contextlib.suppress(OmegaError):
                keys = [_names.worker(self.id), _names.WORKERS_LIVE]
                if self.leases.session:  # any lease not given back is free at once
                    keys.append(_names.worker_lease(self.id))
                await self.redis.script(_LEAVE, name="worker")(keys, [self.id])
            await self._sub.close()
            self._channels = {}  # a restarted run subscribes its new subscription afresh
            self._control = None

    # ----------------------------------------------------------------- leases
    async def _balance_loop(self, stop: asyncio.Event) -> None:
        interval_s = self.settings.lease_ttl_s / self.beats_per_ttl
        while not stop.is_set():
            next_s = interval_s
            try:
                await self.balance()
                next_s = self._next_round_s(interval_s)
                if self.paused:
                    self.paused, self.pause_reason = False, ""
                    self._wake(self.bots)  # wake-ups sent while Redis was away are lost
                    self._catch_up = True  # and candles
                    _log.info("worker_resumed", worker=self.id)
            except StoreError as exc:
                if not isinstance(exc, TransientError):
                    raise  # a configuration error: the supervisor reports it (degraded)
                if not self.paused:
                    _log.warning("worker_paused", worker=self.id, error=str(exc),
                                 error_class=type(exc).__name__)  # fmt: skip
                self.paused, self.pause_reason = True, str(exc)
            await self._pause_until(stop, next_s)

    @property
    def beats_per_ttl(self) -> int:
        """Balance rounds per lease TTL: 2 with sessions (one server), 3 on a cluster."""
        return BEATS_PER_TTL if self.leases.session else CLUSTER_BEATS_PER_TTL

    @property
    def reread_rounds(self) -> int:
        """Every this many rounds (``CONTROL_REREAD_TTLS``) a full round: the control state
        re-read, stale workers dropped, every lease checked, the heartbeat written."""
        return CONTROL_REREAD_TTLS * self.beats_per_ttl

    def _next_round_s(self, interval_s: float) -> float:
        """The wait before the next round: ``interval_s``, or less when another worker's
        session expires before then unless it beats again (it may have died): a round
        ``TAKEOVER_MARGIN_TTLS`` after that takes its bots over without waiting for a regular
        round. A worker on time never triggers it (its expiry is a TTL after its beat, at
        least ``interval_s`` ahead of any reader); one stalled for more than the margin may
        cost its peers one round."""
        if self._takeover_in_s < 0:
            return interval_s
        margin_s = TAKEOVER_MARGIN_TTLS * self.settings.lease_ttl_s
        return max(0.01, min(interval_s, self._takeover_in_s + margin_s))

    async def _pause_until(self, stop: asyncio.Event, timeout_s: float) -> None:
        """Wait for the next round: ``timeout_s``, or less when the control version moves."""
        if self._kick.is_set():
            self._kick.clear()
            return
        waiters = [asyncio.ensure_future(e.wait()) for e in (stop, self._kick)]
        try:
            await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
        self._kick.clear()

    def heartbeat(self) -> dict[str, Any]:
        """What the worker tells the farm every round: alive, healthy or why not, and, per bot,
        when its last candle arrived (``candles``) and which bots are silent (``silent``)."""
        now_ms = int(time.time() * 1000)
        return {
            "at_ms": now_ms,
            "state": str(self.supervisor.state),
            "reason": self.supervisor.reason,
            "candles": {b: self.last_candle_ms.get(b, now_ms) for b in self.bots},
            "silent": self.silent_bots(now_ms),
            "latency": self.latency.take(),
            "candles_filled": self.candles_filled,
        }

    def silent_bots(self, now_ms: int | None = None) -> dict[str, float]:
        """Bots of this worker that heard no candle for 3 of their timeframes: id -> age (s)."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        out = {}
        for bot_id, bot in self.bots.items():
            age_s = (now_ms - self.last_candle_ms.get(bot_id, now_ms)) / 1000
            if age_s > silent_after_s(bot.spec.timeframe):
                out[bot_id] = round(age_s, 3)
        return out

    def health(self, *, silent_bots: bool = True) -> tuple[bool, bool, str]:
        """(ready, degraded, reason) of this worker (with its silent bots, unless told not to:
        the farm service reports every worker's)."""
        if self.paused:
            return False, True, f"paused: {self.pause_reason or 'redis unreachable'}"
        silent = self.silent_bots() if silent_bots else {}
        state = self.supervisor.state
        reasons = [self.supervisor.reason] if state is not HealthState.PASS else []
        if silent:
            reasons.append(f"{len(silent)} bots heard no candle for 3 timeframes: "
                           + ", ".join(sorted(silent)))  # fmt: skip
        reason = "; ".join(reasons) or f"{len(self.bots)} bots on this worker"
        return state is not HealthState.FAIL, bool(reasons), reason

    async def wanted_bots(self) -> list[BotSettings]:
        """Bots that should run: enabled, not stopped by ``omega bots stop`` and not halted by
        reconciliation (a diverged ledger waits for ``omega bots reconcile``). Two reads: the
        bot list, then one MGET of every bot's desired state and halt."""
        specs: dict[str, Any] = await self.redis.get(_names.BOTS) or {}
        if specs != self._raw_specs:  # validate the farm file's bots only when they change
            self._parsed = {b: BotSettings.model_validate(raw) for b, raw in specs.items()}
            self._raw_specs = specs
        ids = sorted(self._parsed)
        names = [f(b) for b in ids for f in (_names.desired, _names.halt)]
        found = await self.redis.get_many(names)
        return [
            self._parsed[b]
            for k, b in enumerate(ids)
            if self._parsed[b].enabled and found[2 * k] != "stopped" and found[2 * k + 1] is None
        ]

    async def live_workers(self) -> int:
        """Workers with a fresh heartbeat (this one included)."""
        return max(1, await _view.live_workers(self.redis))

    def _heartbeat_due(self, *, full: bool) -> bytes:
        """The heartbeat to write ('' = none): when something in it changed (state, reason,
        bots, their candles, silent bots, latency samples), and at least on every full round
        (every :attr:`reread_rounds` rounds, within its ``HEARTBEAT_TTLS`` TTL); an idle
        worker's heartbeat says the same thing round after round."""
        beat = self.heartbeat()
        said = (beat["state"], beat["reason"], beat["candles"], sorted(beat["silent"]),
                beat["latency"], beat["candles_filled"])  # fmt: skip
        if not full and said == self._beat_said:
            return b""
        self._beat_said = said
        return encode(beat)

    async def _beat(self, *, full: bool, check: list[Any] | None = None) -> tuple[int, set[str]]:
        """Heartbeat (and, on one server, the worker's session: its bots' leases); returns the
        farm's control version, read when ``full`` (-1 otherwise), and the bots of ``check``
        (bot leases: one server only) whose lease is no longer ours; sets :attr:`live`,
        :attr:`_session_alive` and when the soonest other worker's session may expire."""
        ttl_ms = int(self.settings.lease_ttl_s * 1000)
        keys = [_names.worker(self.id), _names.WORKERS_LIVE, _names.CONTROL_VERSION]
        args: list[str | bytes] = [
            self._heartbeat_due(full=full),
            str(ttl_ms),
            str(int(time.time() * 1000)),
            self.id,
            "1" if full else "0",
            str(int(HEARTBEAT_TTLS * ttl_ms)),
        ]
        check = check or []
        if self.leases.session:
            keys.append(_names.worker_lease(self.id))
            args.append(self.leases.nonce)
            keys += [_names.lease(x.bot_id) for x in check]
            args += [x.value for x in check]
            self._renewed_at = time.monotonic()
        live, version, alive, soonest_ms, ours = await self.redis.script(_BEAT, name="worker")(
            keys, args
        )
        self.live = max(1, int(live))
        self._session_alive = bool(int(alive))
        self._takeover_in_s = int(soonest_ms) / 1000 if int(soonest_ms) >= 0 else -1.0
        lost = {x.bot_id for x, ok in zip(check, ours or [], strict=False) if not int(ok)}
        return int(version), lost

    async def _wanted(self, version: int) -> list[BotSettings]:
        """The bots that should run, re-read only when the control version moved (it is read
        when a control message arrived, and every :attr:`reread_rounds` rounds, when the
        list is re-read anyway in case a change was written without a bump)."""
        self._rounds += 1
        if (
            self._control is None
            or (version >= 0 and self._control[0] != version)
            or self._rounds % self.reread_rounds == 0
        ):
            self._control = (version, await self.wanted_bots())
        return self._control[1]

    async def balance(self) -> None:
        """One round: heartbeat, renew, then move toward the fair share."""
        due = (self._rounds + 1) % self.reread_rounds == 0
        full = due or self._control_moved or self._control is None
        self._control_moved = False
        leases = [bot.lease for bot in self.bots.values()]
        # every reread_rounds rounds: which leases are still ours (a lease can move
        # under a live session: `omega bots reconcile --adopt`), one MGET in the beat itself
        folded = due and self.leases.session and 0 < len(leases) <= SAVE_BATCH
        version, lost = await self._beat(full=full, check=leases if folded else None)
        if not self.leases.session or not self._session_alive or (due and not folded and leases):
            await self._renew()  # per lease (a cluster), or a lapsed session: check them all
        for bot_id in sorted(lost & set(self.bots)):
            _log.warning("lease_lost", worker=self.id, bot_id=bot_id)
            await self._drop(bot_id, release=False)
        self._sweep()
        wanted = await self._wanted(version)
        wanted_ids = {b.id for b in wanted}
        for bot_id in [b for b in self.bots if b not in wanted_ids]:
            await self._drop(bot_id, release=True)
        fair = math.ceil(len(wanted) / self.live)
        if len(self.bots) > fair:
            for bot_id in sorted(self.bots)[fair:]:
                await self._drop(bot_id, release=True)
            return
        candidates = [b for b in wanted if b.id not in self.bots]
        self._rng.shuffle(candidates)
        for spec in candidates:
            if len(self.bots) >= fair:
                break
            if time.monotonic() - self._renewed_at > self.settings.lease_ttl_s / 3:
                await self._renew()  # starting many bots takes a while: keep the others' leases
            lease = await self.leases.acquire(spec.id)
            if lease is None:
                continue
            bot = LiveBot(spec, self.redis, self.leases, lease)
            try:
                await bot.start()
            except LeaseLostError:
                continue
            self.bots[spec.id] = bot
            self.last_candle_ms[spec.id] = int(time.time() * 1000)  # silent counts from now
            self._read_at[spec.id] = time.monotonic()
            _log.info("bot_started", worker=self.id, bot_id=spec.id, token=lease.token)
        await self._resubscribe()

    async def _renew(self) -> None:
        """Renew every lease (and status TTL) in one script; drop the bots whose lease is lost."""
        self._renewed_at = time.monotonic()
        lost = await self.leases.renew_all(
            [bot.lease for bot in self.bots.values()], self.leases.status_ttl_ms
        )
        for bot_id in sorted(lost & set(self.bots)):
            _log.warning("lease_lost", worker=self.id, bot_id=bot_id)
            await self._drop(bot_id, release=False)

    def _sweep(self) -> None:
        """Mark for reading the bots whose stream was not read for a while (a lost wake-up)."""
        before = time.monotonic() - SWEEP_AFTER_TTLS * self.settings.lease_ttl_s
        self._wake(b for b in self.bots if self._read_at.get(b, 0.0) < before)

    def _wake(self, bot_ids: Any) -> None:
        fresh = set(bot_ids) - self._dirty
        if fresh:
            self._dirty |= fresh
            self._woken.set()

    async def _drop(self, bot_id: str, *, release: bool) -> None:
        bot = self.bots.pop(bot_id, None)
        self.last_candle_ms.pop(bot_id, None)
        self._read_at.pop(bot_id, None)
        self._dirty.discard(bot_id)
        self.supervisor.forget(f"bot:{bot_id}")
        if bot is not None:
            with contextlib.suppress(LeaseLostError):
                await bot.stop(release=release)
            if release:  # pushed, so the feed says "stopped" without anyone polling for it
                with contextlib.suppress(OmegaError):
                    row = await _view.row(self.redis, bot_id, bot.spec.model_dump(mode="json"))
                    await self.redis.publish(_names.FEED_BOTS, {"kind": "status", **row})
        await self._resubscribe()

    async def _resubscribe(self) -> None:
        channels: dict[str, list[str]] = {_names.CONTROL_CHANNEL: []}
        for bot in self.bots.values():
            channels[_names.bot_wake(bot.id)] = [bot.id]
            channels.setdefault(_names.candles(bot.spec.symbol, bot.spec.timeframe), []).append(
                bot.id
            )
            channels.setdefault(_names.ticks(bot.spec.symbol), []).append(bot.id)
        if self._sub is None or set(channels) == set(self._channels):
            self._channels = channels
            return
        gone = set(self._channels) - set(channels)
        new = set(channels) - set(self._channels)
        if gone:
            await self._sub.unsubscribe(*gone)
        self._channels = channels
        if new:
            await self._sub.subscribe(*new)
            # an update appended before the wake channel was subscribed: read once now
            self._wake(channels[c][0] for c in new if c.startswith("wake:"))

    # ----------------------------------------------------------------- events
    async def _market_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self._sub is None:
                await asyncio.sleep(0.05)
                continue
            try:
                message = await self._sub.get(timeout_s=0.5)  # idles while no channel is wanted
            except OmegaError:
                await asyncio.sleep(0.2)
                continue
            if self._sub.reconnects != self._reconnects:  # wake-ups may have been lost
                self._reconnects = self._sub.reconnects
                self._wake(self.bots)
                self._control_moved = True
                self._kick.set()
                self._catch_up = True  # and candles
            if self._catch_up:
                self._catch_up = False
                await self._catch_up_candles()
            if message is None:
                continue
            if message.channel.startswith("wake:"):
                self._wake(self._channels.get(message.channel, []))
                continue
            if message.channel == _names.CONTROL_CHANNEL:
                self._control_moved = True
                self._kick.set()
                continue
            bot_ids = list(self._channels.get(message.channel, []))
            backfill = None
            prev = message.data.get("prev") if message.channel.startswith("md:") else None
            if prev is not None:  # the candle before it: a bot whose feed lacks it missed some
                missed = self._behind(bot_ids, float(prev))
                if missed and (backfill := await self._market_history(message.channel, missed)):
                    self._say_missed(message.channel, len(missed), "a lost message")
            await self._dispatch(message.channel, message.data, bot_ids, backfill)

    async def _dispatch(
        self, channel: str, data: Any, bot_ids: list[str], backfill: list[list[float]] | None
    ) -> None:
        """Every bot of the channel at once: their saves join in one script (bots/lease.py)."""
        drops: dict[str, bool] = {}
        await asyncio.gather(*(self._on_market(b, channel, data, drops, backfill)
                               for b in bot_ids))  # fmt: skip
        for bot_id, release in drops.items():
            await self._drop(bot_id, release=release)

    def _behind(self, bot_ids: list[str], candle_ms: float) -> list[str]:
        """The bots (still here) whose newest candle is older than ``candle_ms``."""
        bots = self.bots
        return [b for b in bot_ids if b in bots and bots[b].last_candle_ms() < candle_ms]

    async def _market_history(self, channel: str, bot_ids: list[str]) -> list[list[float]] | None:
        """The market history of the candle channel of ``bot_ids`` (one read for them all);
        None if Redis cannot give it now: logged, and a catch-up is tried again at the loop's
        next turn."""
        spec = self.bots[bot_ids[0]].spec
        try:
            return list(await self.redis.get(_names.history(spec.symbol, spec.timeframe)) or [])
        except OmegaError as exc:
            _log.warning("candles_missed_unfilled", worker=self.id, channel=channel,
                         bots=len(bot_ids), error=str(exc))  # fmt: skip
            self._catch_up = True
            return None

    def _say_missed(self, channel: str, bots: int, cause: str) -> None:
        _log.warning("candles_missed", worker=self.id, channel=channel, bots=bots, cause=cause,
                     repair="filled from the market history")  # fmt: skip

    async def _catch_up_candles(self) -> None:
        """After the subscription reconnected (or Redis came back) candles published meanwhile
        are lost: the bots of each market that are behind its history's newest candle get it,
        with what they missed before it (one history read per market)."""
        for channel, bot_ids in list(self._channels.items()):
            if not channel.startswith("md:") or not (ids := [b for b in bot_ids if b in self.bots]):
                continue
            history = await self._market_history(channel, ids)
            if history and (behind := self._behind(ids, float(history[-1][0]))):
                self._say_missed(channel, len(behind), "reconnected")
                await self._dispatch(channel, {"candle": history[-1]}, behind, history)

    async def _on_market(
        self,
        bot_id: str,
        channel: str,
        data: Any,
        drops: dict[str, bool],
        backfill: list[list[float]] | None = None,
    ) -> None:
        """One bot's candle or ticker; a bot to drop is put in ``drops`` (id -> release)."""
        bot = self.bots.get(bot_id)
        if bot is None:
            return
        candle = channel.startswith("md:")
        if candle:
            self.last_candle_ms[bot_id] = int(time.time() * 1000)
        try:
            if candle:
                filled = bot.candles_filled
                await bot.on_candle(list(data["candle"]), backfill)
                self.candles_filled += bot.candles_filled - filled
                self.latency.record(data.get("sent_ms"), time.time() * 1000)
            else:
                await bot.on_tick(data)
        except LeaseLostError:
            drops[bot_id] = False
        except FeedRewoundError as exc:  # restarted at the next balance, new history
            _log.warning("bot_feed_rewound", bot_id=bot_id, error=str(exc))
            drops[bot_id] = True
        except OmegaError as exc:
            _log.warning("bot_event_failed", bot_id=bot_id, error=str(exc))
        except Exception as exc:  # one bot's bug (its strategy): reported, not fatal
            # for the other bots; the streak ends 30 s after the bot's last failure
            self.supervisor.record_failure(f"bot:{bot_id}", exc)

    async def _updates_loop(self, stop: asyncio.Event) -> None:
        """Read the streams of the woken bots (one XREADGROUP for all) and hand each bot its
        updates. The only reader of the bots' streams while they run: order is kept."""
        while not stop.is_set():
            if not self._dirty:
                self._woken.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), timeout=0.5)
                continue
            dirty = sorted(b for b in self._dirty if b in self.bots)
            self._dirty.clear()
            try:
                await self._read_updates(dirty)
            except OmegaError as exc:  # Redis away: read them again once it answers
                self._wake(b for b in dirty if b in self.bots)
                _log.info("updates_read_failed", worker=self.id, error=str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=0.2)

    async def _read_updates(self, bot_ids: list[str]) -> None:
        streams = {_names.updates(b): b for b in bot_ids}
        now = time.monotonic()
        try:
            found = await self.redis.stream_read_many(
                list(streams), _names.UPDATES_GROUP, self.id, count=READ_BATCH
            )
        except StoreError as exc:
            if isinstance(exc, TransientError):
                raise
            found = {}  # a stream lost its group (NOGROUP): each bot reads its own, one by one
            for bot_id in bot_ids:
                bot = self.bots.get(bot_id)
                if bot is not None:
                    await self.redis.stream_group(_names.updates(bot_id), _names.UPDATES_GROUP)
                    found[_names.updates(bot_id)] = []
                    await self._apply(bot_id, bot.poll_updates())
        work = []
        for stream, messages in found.items():
            bot_id = streams[stream]
            self._read_at[bot_id] = now
            bot = self.bots.get(bot_id)
            if bot is None or not messages:
                continue
            if len(messages) >= READ_BATCH:
                self._wake([bot_id])  # more to read: next turn
            work.append((bot_id, bot.apply_updates(messages)))
        lost: list[str] = []  # every bot at once: their saves join in one script
        await asyncio.gather(*(self._apply(b, w, lost) for b, w in work))
        for bot_id in lost:
            await self._drop(bot_id, release=False)

    async def _apply(self, bot_id: str, work: Any, lost: list[str] | None = None) -> None:
        try:
            await work
        except LeaseLostError:
            if lost is None:
                await self._drop(bot_id, release=False)
            else:
                lost.append(bot_id)

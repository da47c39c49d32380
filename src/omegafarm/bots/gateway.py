"""The gateway: the farm's only contact with the exchange, next to the Exchange Service.

* Market data (:mod:`.gateway_market`): once per symbol (not per bot) candles and tickers come
  from the exchange's streams (REST where it has none, or while one is down; gaps filled by
  REST); it keeps the last ``history_bars`` candles in Redis (so a starting bot has history)
  and publishes each newly closed candle on ``md:{symbol}:{tf}`` and each new ticker on
  ``tick:{symbol}`` (pub/sub fan-out to every bot of every worker).
* The live feed, for people (relayed by the API's ``/ws``): every new ticker also goes to the
  channel ``tickers`` and every order change it records to ``orders`` (best effort: the
  truth stays in the bots' update streams).
* Orders (:mod:`.gateway_orders`): bots append commands (place, cancel, sync) to their
  command partition's stream
  (``gw:{gateway:p<n>}:commands``, :mod:`.gateway_partitions`); the gateway holding that
  partition executes them through the Exchange Service (idempotent client order ids) and
  appends every change of an order to that bot's update stream, after recording it as the
  exchange's view. Commands carry the bot's trace context (``traceparent``: the gateway's span
  and the Exchange Service call continue the bot's trace) and its lease token; one older than
  the bot's newest lease (or than a token already seen) is dropped (fencing): a worker that
  lost its lease cannot trade any more.
* Order updates come from the exchange's order stream, read by the primary gateway (the paper
  engine pushes them too), so fills reach the bots without the bots ever polling the exchange
  themselves. Where the venue cannot push, or for partitions held by another process on a
  ccxt venue, the holder polls its partitions' open orders (one ``fetch_order`` each).
* Scale-out and high availability: any number of gateways share the partitions (each holds
  ``ceil(partitions / live gateways)`` leases, with fencing tokens), and one of them holds the
  primary lease (market data, reconciliation, the paper venue). A gateway executes a command
  only while its partition's lease holds (checked before each one), writes the partition's
  open orders fenced by that lease, and looks a re-delivered command up by its client order
  id before placing it; the durable paper exchange writes only under the primary lease, so on
  it every partition lives in the primary's process. When a gateway dies its leases expire and
  the others take them within a TTL, reclaiming its unfinished commands at once; a new primary
  reloads the exchange's saved state and reconciles every bot (:mod:`.reconcile`).

Every loop (market data, one per held partition, open orders) runs under a
:class:`~omegafarm.core.supervisor.Supervisor`. An expected failure of
one step (an ``OmegaError``: exchange or Redis down) is logged and retried with backoff, and
after ``STEP_FAILURES_DEGRADED`` in a row the gateway reports itself degraded with the error;
anything else is a bug or an untranslated error: the supervisor logs its traceback, counts it
and restarts the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import time
import uuid
from typing import Any

import structlog
from prometheus_client import CollectorRegistry

from omegafarm.bots.config import FarmSettings
from omegafarm.bots.gateway_market import MarketFeed
from omegafarm.bots.gateway_orders import (
    FINISHED_ORDER_TTL_S,
    PUSH_MISSED_WARN_S,
    OrderDesk,
    encode_update,
)
from omegafarm.bots.gateway_partitions import Term, farm_partitions, partition_of
from omegafarm.bots.lease import GatewayLease, Lease
from omegafarm.bots.reconcile import Reconciler
from omegafarm.core.errors import OmegaError
from omegafarm.core.health import HealthState
from omegafarm.core.supervisor import Supervisor
from omegafarm.exchange import (
    ExchangeService,
)
from omegafarm.store import RedisClient, encode
from omegafarm.store import keys as _names

__all__ = ["FINISHED_ORDER_TTL_S", "Gateway", "encode_update", "new_gateway_id"]

_log = structlog.get_logger("omegafarm.bots.gateway")
STEP_FAILURES_DEGRADED = 3  # failed steps in a row before the gateway reports degraded
PRIMARY_HANDOVER_S = 2.0  # how long a lost primary waits for its market feed to close
# A gateway's beat, in its {gateways} slot (as a worker's in {workers}): its heartbeat record,
# its expiry in the live set (stale members dropped) and back the live gateways' ids. No SCAN.
_BEAT = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]) + tonumber(ARGV[2]), ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])
return redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[3], '+inf')
"""
_LEAVE = """
redis.call('DEL', KEYS[1])
return redis.call('ZREM', KEYS[2], ARGV[1])
"""


def new_gateway_id() -> str:
    """host-pid-random: unique, and says where the gateway runs."""
    host = socket.gethostname().split(".")[0][:16]
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Gateway:
    """Market data publisher and order executor of one farm (run it in one process)."""

    def __init__(
        self,
        redis: RedisClient,
        exchange: ExchangeService,
        settings: FarmSettings,
        markets: set[tuple[str, str]],
        *,
        gateway_id: str | None = None,
        metrics_registry: CollectorRegistry | None = None,
    ) -> None:
        self.redis, self.exchange, self.settings = redis, exchange, settings
        self.supervisor = Supervisor("gateway", metrics_registry=metrics_registry)
        self._step_failures: dict[str, tuple[int, str]] = {}  # loop -> (in a row, last error)
        self.markets = set(markets)
        self.id = gateway_id or new_gateway_id()
        self.lease_mgr = GatewayLease(redis, self.id, settings.lease_ttl_s)  # the primary
        self._beat_key = _names.gateway_heartbeat(self.id)
        self.live_gateways: list[str] = [self.id]  # ids with a fresh beat, at the last round
        self.lease: Lease | None = None  # the primary lease, while this gateway holds it
        self._primary: Term | None = None
        self._ending_primary: Term | None = None
        self.partition_count = 0  # the farm's recorded count, read at the first round
        self.partitions: dict[int, Term] = {}  # partition -> its term, while held here
        self._partition_leases: dict[int, GatewayLease] = {}
        self._announced = False
        self._all_done = asyncio.Event()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._rng = random.Random()  # noqa: S311  # spreads partition tries, not a secret
        self.takeovers = 0
        self.standby_tries = 0
        self._reconciled_at = 0.0
        self.reconciler = Reconciler(redis, exchange)
        self._reconciling = asyncio.Lock()
        self.orders = OrderDesk(self)
        self.market = MarketFeed(self)

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: every TTL/3 renew what this gateway holds and move toward its share
        (the primary lease when free; its share of the partitions, ``partitions / live
        gateways`` rounded up for the first gateways by id and down for the rest, or on a
        venue in this process all of them while primary, none otherwise). Each held lease runs
        its own supervised loop; an orderly stop ends them and hands every lease over at once."""
        with contextlib.suppress(OmegaError):  # a standby's paper copy is read-only
            await self.exchange.fence_writes(self.lease_mgr.key, None)
        self._all_done = asyncio.Event()
        self.supervisor.start("orders", lambda: self._loop(self._all_done, self.orders.orders_tick,
                                                            "orders"))  # fmt: skip
        period_s = self.lease_mgr.ttl_ms / 3000
        try:
            while not stop.is_set():
                try:
                    await self._round()
                except OmegaError as exc:  # Redis away: terms end once their TTL has passed
                    _log.warning("gateway_lease_unavailable", gateway=self.id, error=str(exc))
                    await self._expire_unrenewed()
                await self._pause(stop, period_s)
        finally:
            await self._hand_over_all()

    async def _pause(self, stop: asyncio.Event, period_s: float) -> None:
        """Until the next round: ``period_s``, or sooner when stopped or woken (a primary that
        has just taken over takes the partitions at once)."""
        waits = [asyncio.create_task(stop.wait()), asyncio.create_task(self._wake.wait())]
        try:
            await asyncio.wait(waits, timeout=period_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
            self._wake.clear()

    async def _round(self) -> None:
        """One balance round: heartbeat, renew, primary, fair share of the partitions."""
        ttl_s = self.lease_mgr.ttl_ms / 1000
        if self.partition_count == 0:
            self.partition_count = await farm_partitions(
                self.redis, self.settings.gateway_partitions
            )
        await self._beat(ttl_s)
        await self._renew_all()
        if self._primary is not None and self._primary.ready:  # an old worker's commands (a
            try:  # rolling upgrade): run, not stranded
                await self.orders.drain_legacy(self._primary)
            except OmegaError as exc:
                _log.warning("gateway_legacy_drain_failed", gateway=self.id, error=str(exc))
        ending = self._ending_primary
        if self._primary is None and (ending is None or ending.ended.is_set()):
            lease = await self.lease_mgr.acquire()
            self.standby_tries += 1
            if lease is not None:
                self._start_primary(lease)
            elif not self._announced:
                _log.info("gateway_standby", gateway=self.id,
                          active=await self.lease_mgr.holder())  # fmt: skip
                self._announced = True
        fair = await self._fair_share()
        held = [p for p, t in sorted(self.partitions.items()) if not t.done.is_set()]
        for p in held[fair:]:  # over the share: hand the extras over (after their command)
            self._end_partition(p, release=True)
        if len(held) >= fair:
            return
        free = [p for p in range(self.partition_count) if p not in self.partitions]
        self._rng.shuffle(free)
        for p in free:
            if len(held) >= fair:
                break
            lease = await self.partition_lease(p).acquire()
            if lease is not None:
                held.append(p)
                self._start_partition(p, lease)

    async def _fair_share(self) -> int:
        """How many partitions this gateway should hold now."""
        if self.exchange.venue_fenced:  # one process owns the venue: all or nothing
            ready = self._primary is not None and self._primary.ready
            return self.partition_count if ready else 0
        live = self.live_gateways  # read by this round's beat
        base, extra = divmod(self.partition_count, len(live))  # the first `extra` by id: +1,
        return base + (1 if live.index(self.id) < extra else 0)  # so 4 over 3 = 2/1/1

    async def _beat(self, ttl_s: float) -> None:
        """Heartbeat and the live set in one script; sets :attr:`live_gateways` (sorted)."""
        beat = {"partitions": sorted(self.partitions), "primary": self.lease is not None,
                "push_missed": self.orders.push_missed}  # fmt: skip
        now_ms, ttl_ms = int(time.time() * 1000), max(1, int(ttl_s * 1000))
        args: list[str | bytes] = [encode(beat), str(ttl_ms), str(now_ms), self.id]
        keys = [self._beat_key, _names.GATEWAYS_LIVE]
        live = await self.redis.script(_BEAT, name="gateway_beat")(keys, args)
        ids = {m.decode() if isinstance(m, bytes) else str(m) for m in live or ()}
        self.live_gateways = sorted(ids | {self.id})

    async def _renew_all(self) -> None:
        """Renew the primary and every partition lease; end the terms whose lease moved."""
        if self._primary is not None:
            if await self.lease_mgr.renew(self._primary.lease):
                self._primary.renewed_s = time.monotonic()
            else:
                self._end_primary(lost=True)
        for p, term in list(self.partitions.items()):
            if await self.partition_lease(p).renew(term.lease):
                term.renewed_s = time.monotonic()
            elif not term.done.is_set():
                _log.warning("gateway_partition_lost", gateway=self.id, partition=p,
                             token=term.lease.token)  # fmt: skip
                self._end_partition(p, release=False)

    async def _expire_unrenewed(self) -> None:
        """Redis did not answer: a lease not renewed for a TTL may be someone else's now."""
        ttl_s = self.lease_mgr.ttl_ms / 1000
        now = time.monotonic()
        if self._primary is not None and now - self._primary.renewed_s >= ttl_s:
            self._end_primary(lost=True)
        for p, term in list(self.partitions.items()):
            if now - term.renewed_s >= ttl_s:
                self._end_partition(p, release=False)

    def partition_lease(self, p: int) -> GatewayLease:
        found = self._partition_leases.get(p)
        if found is None:
            found = GatewayLease.partition(self.redis, self.id, self.settings.lease_ttl_s, p)
            self._partition_leases[p] = found
        return found

    def primary_ready(self) -> bool:
        """Whether this gateway is the primary and has taken over (market feed running)."""
        return self._primary is not None and self._primary.ready

    @property
    def commands_done(self) -> int:
        """Commands executed by this gateway."""
        return self.orders.commands_done

    async def commands_waiting(self) -> int:
        """Commands the bots sent that no gateway has executed yet, over every partition (read
        and not acknowledged, or not read yet): a farm whose gateways fall behind shows it."""
        count = self.partition_count or await farm_partitions(
            self.redis, self.settings.gateway_partitions
        )
        total = 0
        for p in range(count):
            stream = _names.partition_commands(p)
            total += await self.redis.stream_backlog(stream, _names.GATEWAY_GROUP)
        return total

    @property
    def dropped_stale(self) -> int:
        """Commands dropped for a stale lease token (fencing)."""
        return self.orders.dropped_stale

    def repairs(self) -> dict[str, Any]:
        """What this gateway repaired on its own (see :meth:`OrderDesk.repairs`), with the
        order updates and candles its market stream recovered by REST after gaps."""
        stream = self.market.stream
        stats = stream.stats() if stream is not None else {}
        recovered = {kind: int(s.get("recovered", 0)) for kind, s in stats.items()}
        return {**self.orders.repairs(), "stream_recovered": recovered}

    @property
    def _open(self) -> dict[str, Any]:  # the fault tests wait for it to empty
        return self.orders.open

    def partition_of(self, bot_id: str) -> int:
        """The partition of a bot's commands (the farm's recorded count)."""
        return partition_of(bot_id, self.partition_count or self.settings.gateway_partitions)

    # ----------------------------------------------------------------- the primary term
    def _start_primary(self, lease: Lease) -> None:
        term = self._primary = Term(lease)
        self.lease = lease
        self.takeovers += 1
        self._announced = False
        self.supervisor.start("primary", lambda: self._primary_loop(term))

    async def _primary_loop(self, term: Term) -> None:
        """Take over as the primary gateway (reload the exchange's saved state, drain a
        pre-partition farm's leftovers), publish market data, and reconcile every bot. Candles
        flow while the bots are reconciled (at a thousand bots that takes a while); commands
        wait for it: the partitions are taken once the term is ready."""
        term.ended.clear()
        market: asyncio.Task[None] | None = None
        try:
            while not term.ready and not term.done.is_set():
                try:
                    await self._take_over_primary(term)
                    if market is None:
                        market = asyncio.create_task(self.market.run(term.done))
                    await self.reconcile_now()
                    term.ready = True
                    self._wake.set()  # the partitions at once, not at the next round
                except OmegaError as exc:  # Redis or the exchange failed while taking over
                    _log.warning("gateway_takeover_failed", gateway=self.id, error=str(exc))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(term.done.wait(), self.lease_mgr.ttl_ms / 3000)
            if market is None and not term.done.is_set():
                market = asyncio.create_task(self.market.run(term.done))
            if market is not None:  # candles, tickers, order updates until the term ends
                ended = asyncio.create_task(term.done.wait())
                try:  # a lost term ends now, not when a Redis call of the feed times out
                    await asyncio.wait({market, ended}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    ended.cancel()
                if market.done():
                    market.result()  # a bug in the feed: the supervisor reports it
        finally:
            if market is not None and not market.done():
                market.cancel()  # its stream closes; a close stuck on a dead server is left
                await asyncio.wait({market}, timeout=PRIMARY_HANDOVER_S)
            term.ended.set()

    async def _take_over_primary(self, term: Term) -> None:
        await self.exchange.fence_writes(self.lease_mgr.key, term.lease.value)  # reload paper
        await self.orders.drain_legacy(term)
        _log.info("gateway_active", gateway=self.id, token=term.lease.token)

    def _end_primary(self, *, lost: bool) -> None:
        """Stop publishing market data; on a venue in this process every partition goes too
        (another process's gateway owns the venue now)."""
        term, self._primary, self.lease = self._primary, None, None
        if term is None:
            return
        self._ending_primary = term  # not taken again before its loop has ended
        term.done.set()
        if lost:
            _log.warning("gateway_lease_lost", gateway=self.id, token=term.lease.token)
        if self.exchange.venue_fenced:
            for p in list(self.partitions):
                self._end_partition(p, release=True)
        self._spawn(self._after_primary(term, lost))

    async def _after_primary(self, term: Term, lost: bool) -> None:
        await term.stop(self.lease_mgr.ttl_ms / 1000)
        with contextlib.suppress(OmegaError):
            if not lost:
                await self.lease_mgr.release(term.lease)
            if self._primary is None:
                await self.exchange.fence_writes(self.lease_mgr.key, None)

    # ----------------------------------------------------------------- partition terms
    def _start_partition(self, p: int, lease: Lease) -> None:
        term = Term(lease)
        self.partitions[p] = term
        self.supervisor.start(f"partition:{p}", lambda: self._partition_loop(p, term))

    async def _partition_loop(self, p: int, term: Term) -> None:
        term.ended.clear()
        try:
            await self._loop(
                term.done, lambda: self.orders.commands_tick(p, term), f"commands:p{p}"
            )
        finally:
            term.ended.set()

    def _end_partition(self, p: int, *, release: bool) -> None:
        """Stop executing partition ``p``: forget its orders here; hand its lease over once
        the command in flight (if any) is done (``release``), or leave it (lost)."""
        term = self.partitions.get(p)
        if term is None or term.done.is_set():
            return
        term.done.set()
        self.orders.forget_partition(p)
        self._spawn(self._after_partition(p, term, release))

    async def _after_partition(self, p: int, term: Term, release: bool) -> None:
        ended = await term.stop(self.lease_mgr.ttl_ms / 1000)
        try:
            if release and ended:  # never while a command may still be running
                with contextlib.suppress(OmegaError):
                    await self.partition_lease(p).release(term.lease)
            await term.ended.wait()  # a stuck command: its lease expires; retaken after it
        finally:
            if self.partitions.get(p) is term:
                del self.partitions[p]

    async def _hand_over_all(self) -> None:
        """An orderly stop: end every term, release every lease, drop the heartbeat."""
        for p in list(self.partitions):
            self._end_partition(p, release=True)
        primary = self._primary
        if primary is not None:
            self._primary, self.lease = None, None
            primary.done.set()
        self._all_done.set()
        if self._tasks:  # hand-overs wait for the command in flight, at most a TTL
            await asyncio.wait(set(self._tasks), timeout=self.lease_mgr.ttl_ms / 1000)
        await self.supervisor.close()  # cancels a loop still stuck (its lease just expires)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(OmegaError):
            if primary is not None:
                await self.lease_mgr.release(primary.lease)
            keys = [self._beat_key, _names.GATEWAYS_LIVE]
            await self.redis.script(_LEAVE, name="gateway_beat")(keys, [self.id])

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def health(self) -> tuple[bool, bool, str]:
        """(ready, degraded, reason): degraded while a loop keeps failing."""
        failing = {n: f for n, f in self._step_failures.items() if f[0] >= STEP_FAILURES_DEGRADED}
        reasons = [f"{n} step failed {k} times in a row: {e}" for n, (k, e) in failing.items()]
        if self.supervisor.state is not HealthState.PASS:
            reasons.insert(0, self.supervisor.reason)
        held = ",".join(f"p{p}" for p in sorted(self.partitions)) or "none"
        market_degraded, market_reason = self.market.health()
        if market_degraded:  # a stream down (on REST fallback), or market data failing to start
            reasons.append(market_reason)
        if missed := self.orders.push_missed_recently():  # repaired, but never silently
            minutes = round(PUSH_MISSED_WARN_S / 60)
            reasons.append(f"{missed} order changes the exchange's push missed in the last "
                           f"{minutes} min (found late by the gateway's look at quiet orders; "
                           "gateway_push_missed in the log)")  # fmt: skip
        reason = "; ".join(reasons) or (
            f"gateway serves {len(self.markets)} markets; partitions {held}"
        )
        return self.supervisor.state is not HealthState.FAIL, bool(reasons), reason

    async def _loop(self, stop: asyncio.Event, step: Any, name: str) -> None:
        delay_s = self.settings.poll_interval_s
        while not stop.is_set():
            try:
                await step()
                delay_s = self.settings.poll_interval_s
                self._step_failures.pop(name, None)
            except OmegaError as exc:  # expected at the edges (exchange, Redis): back off
                count = self._step_failures.get(name, (0, ""))[0] + 1
                self._step_failures[name] = (count, f"{type(exc).__name__}: {exc}")
                _log.warning("gateway_step_failed", loop=name, error=str(exc),
                             error_class=type(exc).__name__, failures=count)  # fmt: skip
                delay_s = min(2.0, delay_s * 2)
            if name in ("market", "orders") or delay_s > self.settings.poll_interval_s:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay_s)

    # ----------------------------------------------------------------- reconciliation
    async def reconcile_now(self, *, full: bool = True) -> int:
        """Check every bot's ledger against the exchange (halting those that diverge); returns
        how many bots diverged. Failures are logged and retried at the next round."""
        self._reconciled_at = time.monotonic()
        try:
            async with self._reconciling:  # the take-over's round and the periodic one
                found = await self.reconciler.check_all(full=full)
        except OmegaError as exc:
            _log.warning("reconcile_round_failed", gateway=self.id, error=str(exc))
            return 0
        return len(found)

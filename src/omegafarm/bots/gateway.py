"""The gateway: the farm's only contact with the exchange, next to the Exchange Service.

* Market data (:mod:`.gateway_market`): once per symbol (not per bot) candles and tickers come
  from the exchange's streams (REST where it has none, or while one is down; gaps filled by
  REST); it keeps the last ``history_bars`` candles in Redis (so a starting bot has history)
  and publishes each newly closed candle on ``md:{symbol}:{tf}`` and each new ticker on
  ``tick:{symbol}`` (pub/sub fan-out to every bot of every worker).
* The live feed, for people (relayed by the API's ``/ws``): every new ticker also goes to the
  channel ``tickers`` and every order change it records to ``orders`` (best effort: the
  truth stays in the bots' update streams).
* Orders: bots append commands (place, cancel, sync) to their command partition's stream
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
from dataclasses import asdict
from decimal import Decimal
from typing import Any

import structlog
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

from omegafarm.bots._convert import update_from_order
from omegafarm.bots.config import FarmSettings
from omegafarm.bots.gateway_market import MarketFeed
from omegafarm.bots.gateway_partitions import Term, farm_partitions, legacy_drained, partition_of
from omegafarm.bots.lease import GatewayLease, Lease, newest_token
from omegafarm.bots.ledger import OrderUpdate
from omegafarm.bots.reconcile import Reconciler
from omegafarm.core.errors import OmegaError, ServiceError, StoreUnavailableError, is_transient
from omegafarm.core.health import HealthState
from omegafarm.core.supervisor import Supervisor
from omegafarm.core.tracing import extract, start_span
from omegafarm.exchange import (
    DuplicateOrderIdError,
    ExchangeService,
    Order,
    OrderNotFoundError,
)
from omegafarm.store import RedisClient, StreamMessage, encode
from omegafarm.store import keys as _names

_log = structlog.get_logger("omegafarm.bots.gateway")
_TRACER = "omegafarm.bots.gateway"
_SPAN_FIELDS = {"omega.bot_id": "bot_id", "omega.command": "kind",
                "omega.client_order_id": "cid", "omega.symbol": "symbol"}  # fmt: skip
STEP_FAILURES_DEGRADED = 3  # failed steps in a row before the gateway reports degraded
# An idle partition costs one blocking read a second (a new command returns it at once), and a
# look for commands left pending (a transient failure, 5 s idle) every RECLAIM_EVERY_S.
COMMAND_BLOCK_MS = 1_000
RECLAIM_EVERY_S = 5.0
PRIMARY_HANDOVER_S = 2.0  # how long a lost primary waits for its market feed to close
QUIET_ORDER_S = 10.0  # the primary's safety look at silent open orders (paper venue only)
_XDEL = "return redis.call('XDEL', KEYS[1], ARGV[1])"  # one drained pre-partition command
_DEL_IF_EMPTY = "if redis.call('XLEN', KEYS[1]) == 0 then return redis.call('DEL', KEYS[1]) end"
# How long the record of a finished order (``state:gw:{gateway}:order:<cid>``) stays: a day, far
# longer than a reconciliation round (60 s) or a gateway take-over, so a lookup by client order
# id right after the order ended finds it; an open order's record has no expiry (the order is in
# its partition's open orders until it ends). No gateway key outlives its order by more than this.
FINISHED_ORDER_TTL_S = 86_400.0


def new_gateway_id() -> str:
    """host-pid-random: unique, and says where the gateway runs."""
    host = socket.gethostname().split(".")[0][:16]
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def encode_update(update: OrderUpdate) -> dict[str, Any]:
    """An update as a stream message."""
    return asdict(update)


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
        self._fence: dict[str, int] = {}
        self._open: dict[str, dict[str, Any]] = {}
        self._seen: dict[str, tuple[Decimal, str]] = {}
        self.commands_done = 0
        self.dropped_stale = 0
        self.id = gateway_id or new_gateway_id()
        self.lease_mgr = GatewayLease(redis, self.id, settings.lease_ttl_s)  # the primary
        self._beat_key = _names.gateway_heartbeat(self.id)
        self.lease: Lease | None = None  # the primary lease, while this gateway holds it
        self._primary: Term | None = None
        self._ending_primary: Term | None = None
        self.partition_count = 0  # the farm's recorded count, read at the first round
        self.partitions: dict[int, Term] = {}  # partition -> its term, while held here
        self._partition_leases: dict[int, GatewayLease] = {}
        self._waiting: dict[int, dict[str, set[str]]] = {}  # partition -> bot -> pending ids
        self._reclaim_now: set[int] = set()  # partitions just taken: reclaim everything
        self._legacy_drained = False
        self._draining = False
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
        self._told_at: dict[str, float] = {}  # open order -> when its bot was last told
        self._quiet_checked_at = 0.0
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
        self.supervisor.start("orders", lambda: self._loop(self._all_done, self._orders_tick,
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
        beat = {"partitions": sorted(self.partitions), "primary": self.lease is not None}
        await self.redis.set(self._beat_key, beat, ttl_s=ttl_s)
        await self._renew_all()
        if self._primary is not None and self._primary.ready:  # an old worker's commands (a
            try:  # rolling upgrade): run, not stranded
                await self._drain_legacy(self._primary)
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
            lease = await self._partition_lease(p).acquire()
            if lease is not None:
                held.append(p)
                self._start_partition(p, lease)

    async def _fair_share(self) -> int:
        """How many partitions this gateway should hold now."""
        if self.exchange.venue_in_process:  # one process owns the venue: all or nothing
            ready = self._primary is not None and self._primary.ready
            return self.partition_count if ready else 0
        live = sorted(set(await self.redis.scan(_names.GATEWAYS_PREFIX)) | {self._beat_key})
        base, extra = divmod(self.partition_count, len(live))  # the first `extra` by id: +1,
        return base + (1 if live.index(self._beat_key) < extra else 0)  # so 4 over 3 = 2/1/1

    async def _renew_all(self) -> None:
        """Renew the primary and every partition lease; end the terms whose lease moved."""
        if self._primary is not None:
            if await self.lease_mgr.renew(self._primary.lease):
                self._primary.renewed_s = time.monotonic()
            else:
                self._end_primary(lost=True)
        for p, term in list(self.partitions.items()):
            if await self._partition_lease(p).renew(term.lease):
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

    def _partition_lease(self, p: int) -> GatewayLease:
        found = self._partition_leases.get(p)
        if found is None:
            found = GatewayLease.partition(self.redis, self.id, self.settings.lease_ttl_s, p)
            self._partition_leases[p] = found
        return found

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
        await self._drain_legacy(term)
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
        if self.exchange.venue_in_process:
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

    async def _drain_legacy(self, term: Term) -> None:
        """A farm upgraded from the single-stream gateway: its open orders go to their
        partitions' maps and its unexecuted commands run here, in order, before any partition
        starts (partitions wait for :func:`legacy_drained`)."""
        old_open: dict[str, dict[str, Any]] = await self.redis.get(_names.GATEWAY_OPEN) or {}
        for p in sorted({self.partition_of(i["bot"]) for i in old_open.values()}):
            mine = {c: i for c, i in old_open.items() if self.partition_of(i["bot"]) == p}
            current: dict[str, Any] = await self.redis.get(_names.partition_open(p)) or {}
            await self.redis.set(_names.partition_open(p), {**current, **mine})
        if old_open:
            await self.redis.delete(_names.GATEWAY_OPEN)
        entries = await self.redis.stream_range(_names.COMMANDS)
        if not entries:
            return
        _log.info("gateway_legacy_commands", gateway=self.id, commands=len(entries))
        delete = self.redis.script(_XDEL, name="gateway_legacy_xdel")
        delete_if_empty = self.redis.script(_DEL_IF_EMPTY, name="gateway_legacy_del")
        absolute = self.redis.keys.stream(_names.COMMANDS)

        async def primary_holds() -> bool:
            return await self.lease_mgr.holds(term.lease)

        self._draining = True
        try:
            for message in entries:
                if not await self._handle(message, redelivered=True, holds=primary_holds):
                    raise ServiceError(f"old-stream command {message.id} left for the next try")
                await delete.run_absolute([absolute], [message.id])
        finally:
            self._draining = False
            held = set(self.partitions)
            self._open = {c: i for c, i in self._open.items()
                          if self.partition_of(i["bot"]) in held}  # fmt: skip
        await delete_if_empty.run_absolute([absolute], [])  # the upgrade is done

    # ----------------------------------------------------------------- partition terms
    def _start_partition(self, p: int, lease: Lease) -> None:
        term = Term(lease)
        self.partitions[p] = term
        self.supervisor.start(f"partition:{p}", lambda: self._partition_loop(p, term))

    async def _partition_loop(self, p: int, term: Term) -> None:
        term.ended.clear()
        try:
            await self._loop(term.done, lambda: self._commands_tick(p, term), f"commands:p{p}")
        finally:
            term.ended.set()

    async def _load_partition(self, p: int, term: Term) -> bool:
        """Take over a partition: its open orders (polled from now on) and, at the first
        read, every command the previous holder read but did not finish. False while an
        upgraded farm's old stream is not drained yet."""
        if not self._legacy_drained:
            if not await legacy_drained(self.redis):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(term.done.wait(), self.settings.poll_interval_s * 4)
                return False
            self._legacy_drained = True
        await self.redis.stream_group(_names.partition_commands(p), _names.GATEWAY_GROUP)
        saved: dict[str, dict[str, Any]] = await self.redis.get(_names.partition_open(p)) or {}
        for cid, info in saved.items():
            self._open.setdefault(cid, info)
            self._seen.pop(cid, None)  # published again at the first poll: an update written
            # just before a Redis crash may be lost with its last second of writes
        term.loaded = True
        self._reclaim_now.add(p)
        if saved and self._primary is not None and self._primary.ready:
            # the primary's stream tracks them from now on; what they did while nobody held
            # the partition (a take-over) is in no stream: one look by client order id
            await self._refresh_orders(saved)
        _log.info("gateway_partition_taken", gateway=self.id, partition=p,
                  token=term.lease.token, open_orders=len(saved))  # fmt: skip
        return True

    def _end_partition(self, p: int, *, release: bool) -> None:
        """Stop executing partition ``p``: forget its orders here; hand its lease over once
        the command in flight (if any) is done (``release``), or leave it (lost)."""
        term = self.partitions.get(p)
        if term is None or term.done.is_set():
            return
        term.done.set()
        for cid in [c for c, i in self._open.items() if self.partition_of(i["bot"]) == p]:
            self._open.pop(cid, None)
            self._told_at.pop(cid, None)
        for cid in [c for c in self._seen if self.partition_of(c.rsplit("-", 1)[0]) == p]:
            self._seen.pop(cid, None)
        self._waiting.pop(p, None)
        self._reclaim_now.discard(p)
        self._spawn(self._after_partition(p, term, release))

    async def _after_partition(self, p: int, term: Term, release: bool) -> None:
        ended = await term.stop(self.lease_mgr.ttl_ms / 1000)
        try:
            if release and ended:  # never while a command may still be running
                with contextlib.suppress(OmegaError):
                    await self._partition_lease(p).release(term.lease)
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
            await self.redis.delete(self._beat_key)

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

    # ----------------------------------------------------------------- orders
    async def _commands_tick(self, p: int, term: Term) -> None:
        """Read and execute partition ``p``'s commands, in order per bot: a bot whose command
        is left pending (a transient failure) runs nothing newer until it is done."""
        if not term.loaded and not await self._load_partition(p, term):
            return
        stream = _names.partition_commands(p)
        now = p in self._reclaim_now
        pending: list[StreamMessage] = []
        if now or time.monotonic() - term.reclaimed_s >= RECLAIM_EVERY_S:
            pending = await self.redis.stream_reclaim(
                stream, _names.GATEWAY_GROUP, "gw", min_idle_ms=0 if now else 5_000,
                count=10_000 if now else 100,
            )  # fmt: skip
            term.reclaimed_s = time.monotonic()
        self._reclaim_now.discard(p)
        fresh = await self.redis.stream_read(
            stream, _names.GATEWAY_GROUP, "gw", block_ms=COMMAND_BLOCK_MS
        )
        waiting = self._waiting.setdefault(p, {})
        for message, again in [(m, True) for m in pending] + [(m, False) for m in fresh]:
            if term.done.is_set():
                return  # handed over: the next holder reclaims what is left, in order
            bot = str(message.data.get("bot_id"))
            order = _entry_order(message.id)
            if any(_entry_order(i) < order for i in waiting.get(bot, ())):
                waiting[bot].add(message.id)  # an older command of this bot is pending
                continue
            if await self._handle(message, redelivered=again, holds=self._holder_of(p, term)):
                await self.redis.stream_ack(stream, _names.GATEWAY_GROUP, message.id)
                waiting.get(bot, set()).discard(message.id)
                if not waiting.get(bot, True):
                    waiting.pop(bot, None)
            else:
                waiting.setdefault(bot, set()).add(message.id)

    def _holder_of(self, p: int, term: Term) -> Any:
        lease_mgr = self._partition_lease(p)

        async def holds() -> bool:
            return not term.done.is_set() and await lease_mgr.holds(term.lease)

        return holds

    async def _handle(
        self, message: StreamMessage, *, redelivered: bool = False, holds: Any = None
    ) -> bool:
        """Execute one command; False leaves it pending (a transient failure: retried)."""
        cmd: dict[str, Any] = message.data
        attributes = {
            key: None if cmd.get(field) is None else str(cmd[field])
            for key, field in _SPAN_FIELDS.items()
        }
        if holds is None:  # the partition's lease, as held by this gateway
            p = self.partition_of(str(cmd["bot_id"]))
            term = self.partitions.get(p)
            holds = _never if term is None else self._holder_of(p, term)
        with start_span(
            f"gateway {cmd.get('kind')}", tracer_name=_TRACER, kind=SpanKind.CONSUMER,
            context=extract(cmd), attributes=attributes,
        ):  # fmt: skip
            return await self._handle_command(cmd, holds, redelivered)

    async def _handle_command(self, cmd: dict[str, Any], holds: Any, redelivered: bool) -> bool:
        bot, token = str(cmd["bot_id"]), int(cmd["token"])
        if not await holds():
            return False  # no longer this partition's holder: the new one executes it (fencing)
        if await self.reconciler.halted(bot):  # the user decides first (`omega bots reconcile`)
            if cmd["kind"] == "place":
                await self._publish(bot, _rejected(cmd, "bot halted by reconciliation"))
            return True
        granted = await newest_token(self.redis, bot)  # the newest lease's token
        if token < max(self._fence.get(bot, 0), granted):
            self.dropped_stale += 1
            _log.warning("stale_command_dropped", bot_id=bot, token=token, cid=cmd.get("cid"))
            return True
        self._fence[bot] = token
        try:
            order = await self._execute(cmd, redelivered)
        except OmegaError as exc:
            if is_transient(exc) or isinstance(exc, StoreUnavailableError):
                return False
            if cmd["kind"] == "place":
                await self._publish(bot, _rejected(cmd, str(exc)))
            return True
        if order is not None:
            await self._publish(bot, order)
        self.commands_done += 1
        return True

    async def _execute(self, cmd: dict[str, Any], redelivered: bool = False) -> OrderUpdate | None:
        kind, cid, symbol = cmd["kind"], str(cmd["cid"]), str(cmd["symbol"])
        with start_span(f"ExchangeService {kind}", tracer_name=_TRACER, attributes={
            "omega.exchange.id": self.exchange.exchange_id, "omega.symbol": symbol,
            "omega.client_order_id": cid,
        }):  # fmt: skip
            return await self._execute_on_exchange(cmd, kind, cid, symbol, redelivered)

    async def _execute_on_exchange(
        self, cmd: dict[str, Any], kind: str, cid: str, symbol: str, redelivered: bool = False
    ) -> OrderUpdate | None:
        params = {"clientOrderId": cid}
        if kind == "place":
            order = await self._place(cmd, cid, symbol, redelivered)
        elif kind == "cancel":
            try:
                order = await self.exchange.cancel_order(cmd.get("order_id") or "", symbol, params)
            except OrderNotFoundError:  # already finished: report how it ended
                order = await self.exchange.fetch_order(cmd.get("order_id") or "", symbol, params)
        else:  # sync: what does the exchange know of this client order id?
            try:
                order = await self.exchange.fetch_order(cmd.get("order_id") or "", symbol, params)
            except OrderNotFoundError:
                return None
        update = update_from_order(order, cid)
        if update.is_open:
            self._open[cid] = {"bot": str(cmd["bot_id"]), "symbol": symbol, "order_id": order.id}
        return update

    async def _place(self, cmd: dict[str, Any], cid: str, symbol: str, redelivered: bool) -> Order:
        """Place once: a command read before (by a gateway that died, or left pending here)
        is looked up by its client order id first, so it is never placed twice even on an
        exchange that accepts a repeated client order id."""
        params = {"clientOrderId": cid}
        if redelivered:
            with contextlib.suppress(OrderNotFoundError):
                return await self.exchange.fetch_order("", symbol, params)
        price = cmd.get("price")
        try:
            return await self.exchange.create_order(
                symbol, cmd["type"], cmd["side"], Decimal(str(cmd["amount"])),
                None if price is None else Decimal(str(price)), params,
            )  # fmt: skip
        except DuplicateOrderIdError:  # the exchange has it already: report that one
            return await self.exchange.fetch_order("", symbol, params)

    async def _orders_tick(self) -> None:
        """Poll the open orders of the partitions held here (fills reach their bots), unless
        this gateway is the primary: its market feed tracks them (streamed, or polled by the
        stream's REST fallback)."""
        held = {p for p, t in self.partitions.items() if t.loaded and not t.done.is_set()}
        for cid in [c for c, i in self._open.items() if self.partition_of(i["bot"]) not in held]:
            self._open.pop(cid, None)  # a partition handed over meanwhile: its holder polls it
        if self._primary is not None and self._primary.ready:
            await self._check_quiet_orders()
            return
        if self._open:
            await self._poll_open_orders()

    async def _check_quiet_orders(self) -> None:
        """The primary's safety net on a venue in this process (the paper exchange: a look is a
        memory read, no request): an open order nothing was heard of for ``QUIET_ORDER_S`` is
        looked up once. On a ccxt venue the order stream, its gap fills by client order id
        and the periodic reconciliation are the only sources (no REST while the stream is up).
        Why: after a kill -9 and restart of ``omega up`` on the paper exchange, an order of
        the restored book was seen to end without a push (not found before the deadline)."""
        if not self.exchange.venue_in_process:
            return
        now = time.monotonic()
        if now - self._quiet_checked_at < QUIET_ORDER_S:
            return
        self._quiet_checked_at = now
        quiet = {c: i for c, i in self._open.items()
                 if now - self._told_at.get(c, 0.0) >= QUIET_ORDER_S}  # fmt: skip
        if quiet:
            await self._refresh_orders(quiet)

    async def _save_open(self, bot_id: str, cid: str, info: dict[str, Any] | None) -> None:
        """Write the open orders of the bot's partition, fenced by the partition's lease (a
        gateway that lost the partition cannot change them)."""
        p = self.partition_of(bot_id)
        entries = {c: i for c, i in self._open.items()
                   if c != cid and self.partition_of(i["bot"]) == p}  # fmt: skip
        if info is not None:
            entries[cid] = info
        term = self.partitions.get(p)
        if term is not None and not term.done.is_set():
            await self._partition_lease(p).fenced_set(
                term.lease, _names.partition_open(p), encode(entries)
            )
        elif self._draining:  # the upgrade drain, before any partition has loaded its map
            current: dict[str, Any] = await self.redis.get(_names.partition_open(p)) or {}
            current.pop(cid, None)
            if info is not None:
                current[cid] = info
            await self.redis.set(_names.partition_open(p), current)

    async def _poll_open_orders(self) -> None:
        await self._refresh_orders(dict(self._open))

    async def _refresh_orders(self, orders: dict[str, dict[str, Any]]) -> None:
        """Look each order up once (by client order id) and tell its bot what changed."""
        for cid, info in list(orders.items()):
            params = {"clientOrderId": cid}
            order = await self.exchange.fetch_order(info["order_id"], info["symbol"], params)
            update = update_from_order(order, cid)
            if (update.filled, update.status) != self._seen.get(cid):
                await self._publish(info["bot"], update)
            elif not update.is_open:
                await self._save_open(info["bot"], cid, None)  # its partition's map, fenced
                self._open.pop(cid, None)

    async def _publish(self, bot_id: str, update: OrderUpdate) -> None:
        cid = update.client_order_id
        info = {"bot": bot_id, "symbol": update.symbol, "order_id": update.order_id}
        # Redis first: if it is down, nothing here changes and the update is sent again later
        await self._save_open(bot_id, cid, info if update.is_open else None)
        ttl_s = None if update.is_open else FINISHED_ORDER_TTL_S  # open: kept while it works
        await self.redis.set(_names.order_record(cid), encode_update(update), ttl_s=ttl_s)
        await self.redis.stream_add(_names.updates(bot_id), encode_update(update), maxlen=5_000)
        with contextlib.suppress(OmegaError):  # the feed is for people; the stream is the truth
            await self.redis.publish(_names.bot_wake(bot_id), 1)  # its worker reads the stream
            await self.redis.publish(
                _names.FEED_ORDERS, {"bot_id": bot_id, **encode_update(update)}
            )
        if update.is_open:  # in place: the command and poll loops share this dict
            self._open.setdefault(cid, info)
            self._seen[cid] = (update.filled, update.status)
            self._told_at[cid] = time.monotonic()
        else:  # nothing of a finished order stays: no key without expiry, no memory
            self._open.pop(cid, None)
            self._seen.pop(cid, None)
            self._told_at.pop(cid, None)


async def _never() -> bool:
    return False


def _entry_order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _rejected(cmd: dict[str, Any], reason: str) -> OrderUpdate:
    price = cmd.get("price")
    return OrderUpdate(
        str(cmd["cid"]), None, str(cmd["symbol"]), cmd["side"], str(cmd["type"]), "rejected",
        Decimal(str(cmd["amount"])), Decimal(0), Decimal(0), Decimal(0), None,
        None if price is None else Decimal(str(price)), 0, reason,
    )  # fmt: skip

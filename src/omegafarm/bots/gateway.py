"""The gateway: the farm's only contact with the exchange, next to the Exchange Service.

* Market data (:mod:`.gateway_market`): once per symbol (not per bot) candles and tickers come
  from the exchange's streams (REST where it has none, or while one is down; gaps filled by
  REST); it keeps the last ``history_bars`` candles in Redis (so a starting bot has history)
  and publishes each newly closed candle on ``md:{symbol}:{tf}`` and each new ticker on
  ``tick:{symbol}`` (pub/sub fan-out to every bot of every worker).
* The live feed, for people (relayed by the API's ``/ws``): every new ticker also goes to the
  channel ``tickers`` and every order change it records to ``orders`` (best effort: the
  truth stays in the bots' update streams).
* Orders: bots append commands (place, cancel, sync) to the ``gw:commands`` stream; the gateway
  executes them through the Exchange Service (idempotent client order ids) and appends every
  change of an order to that bot's update stream, after recording it as the exchange's view.
  Commands carry the bot's trace context (``traceparent``: the gateway's span and the Exchange
  Service call continue the bot's trace) and its lease token; one older than the bot's newest
  lease (or than a token already seen) is dropped (fencing): a worker that lost its lease
  cannot trade any more.
* Order updates come from the exchange's order stream (the paper engine pushes them too;
  polled with one ``fetch_order`` each only where the venue cannot push), so fills reach the
  bots without the bots ever polling the exchange themselves.
* High availability: a gateway works only while it holds the farm's gateway lease (a fencing
  token, like a bot's). Others stand by and try every TTL/3; the one that takes over reloads
  the exchange's saved state, reclaims the dead one's pending commands at once and reconciles
  every bot (:mod:`.reconcile`). It checks the lease before every command, and the durable
  paper exchange writes only under it, so two gateways never execute the same command.

Both loops run under a :class:`~omegafarm.core.supervisor.Supervisor`. An expected failure of
one step (an ``OmegaError``: exchange or Redis down) is logged and retried with backoff, and
after ``STEP_FAILURES_DEGRADED`` in a row the gateway reports itself degraded with the error;
anything else is a bug or an untranslated error: the supervisor logs its traceback, counts it
and restarts the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
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
from omegafarm.bots.lease import GatewayLease, Lease, newest_token
from omegafarm.bots.ledger import OrderUpdate
from omegafarm.bots.reconcile import Reconciler
from omegafarm.core.errors import OmegaError, StoreUnavailableError, is_transient
from omegafarm.core.health import HealthState
from omegafarm.core.supervisor import Supervisor
from omegafarm.core.tracing import extract, start_span
from omegafarm.exchange import ExchangeService, OrderNotFoundError
from omegafarm.store import RedisClient, StreamMessage
from omegafarm.store import keys as _names

_log = structlog.get_logger("omegafarm.bots.gateway")
_TRACER = "omegafarm.bots.gateway"
_SPAN_FIELDS = {"omega.bot_id": "bot_id", "omega.command": "kind",
                "omega.client_order_id": "cid", "omega.symbol": "symbol"}  # fmt: skip
STEP_FAILURES_DEGRADED = 3  # failed steps in a row before the gateway reports degraded
# How long the record of a finished order (``state:gw:{gateway}:order:<cid>``) stays: a day, far
# longer than a reconciliation round (60 s) or a gateway take-over, so a lookup by client order
# id right after the order ended finds it; an open order's record has no expiry (the order is in
# ``GATEWAY_OPEN`` until it ends). No gateway key outlives its order by more than this.
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
        self.lease_mgr = GatewayLease(redis, self.id, settings.lease_ttl_s)
        self.lease: Lease | None = None  # set while this gateway is the active one
        self.takeovers = 0
        self.standby_tries = 0
        self._reclaim_now = False
        self._reconciled_at = 0.0
        self.reconciler = Reconciler(redis, exchange)
        self.market = MarketFeed(self)

    async def run(self, stop: asyncio.Event) -> None:
        """Stand by until this gateway holds the farm's gateway lease, then publish market data
        and execute commands until ``stop`` (or until the lease is lost: stand by again)."""
        while not stop.is_set():
            lease = await self._standby(stop)
            if lease is None:
                return
            try:
                await self._serve(stop, lease)
            except OmegaError as exc:  # Redis or the exchange failed while taking over
                _log.warning("gateway_takeover_failed", gateway=self.id, error=str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.lease_mgr.ttl_ms / 3000)
            finally:
                self.lease = None
                if stop.is_set():  # an orderly stop hands over at once, not after a TTL
                    with contextlib.suppress(OmegaError):
                        await self.lease_mgr.release(lease)

    async def _standby(self, stop: asyncio.Event) -> Lease | None:
        """Try to take the gateway lease every TTL/3 until it is ours (None: stopped)."""
        with contextlib.suppress(OmegaError):
            await self.exchange.fence_writes(self.lease_mgr.key, None)
        announced = False
        while not stop.is_set():
            try:
                lease = await self.lease_mgr.acquire()
                self.standby_tries += 1
                if lease is not None:
                    return lease
                if not announced:
                    holder = await self.lease_mgr.holder()
                    _log.info("gateway_standby", gateway=self.id, active=holder)
                    announced = True
            except OmegaError as exc:
                _log.warning("gateway_lease_unavailable", gateway=self.id, error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.lease_mgr.ttl_ms / 3000)
        return None

    async def _serve(self, stop: asyncio.Event, lease: Lease) -> None:
        """Be the farm's gateway while ``lease`` holds (renewed from the first moment: taking
        over, with its reconciliation, may last longer than a TTL)."""
        done = asyncio.Event()  # set when this term ends: the loops stop
        keeper = asyncio.create_task(self._keep_lease(done, lease))
        work = asyncio.create_task(self._term(done, lease))
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([stopper, keeper, work], return_when=asyncio.FIRST_COMPLETED)
        finally:
            done.set()
            for task in (keeper, work, stopper):
                task.cancel()
            await asyncio.gather(keeper, work, stopper, return_exceptions=True)
        if work.done() and not work.cancelled() and work.exception() is not None:
            raise work.exception()  # type: ignore[misc]  # an OmegaError while taking over

    async def _term(self, done: asyncio.Event, lease: Lease) -> None:
        """Take over (reload the exchange, reclaim, reconcile), then run the loops."""
        await self.exchange.fence_writes(self.lease_mgr.key, lease.value)  # reloads paper state
        await self.redis.stream_group(_names.COMMANDS, _names.GATEWAY_GROUP)
        self._open = dict(await self.redis.get(_names.GATEWAY_OPEN) or {})
        self._seen.clear()
        self._reclaim_now = True  # the commands a dead gateway was working on: take them at once
        self.lease = lease
        self.takeovers += 1
        _log.info("gateway_active", gateway=self.id, token=lease.token)
        await self.reconcile_now()
        self.supervisor.start("market", lambda: self.market.run(done))
        self.supervisor.start("commands", lambda: self._loop(done, self._commands_tick, "commands"))
        try:
            await done.wait()
        finally:
            await self.supervisor.close()

    async def _keep_lease(self, active: asyncio.Event, lease: Lease) -> None:
        """Renew every TTL/3; return (ending this term) once the lease is lost or expired."""
        ttl_s = self.lease_mgr.ttl_ms / 1000
        renewed = time.monotonic()
        while not active.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(active.wait(), timeout=ttl_s / 3)
            try:
                if not await self.lease_mgr.renew(lease):
                    break
                renewed = time.monotonic()
            except OmegaError as exc:
                if time.monotonic() - renewed >= ttl_s:  # expired by now: someone may take it
                    break
                _log.warning("gateway_renew_failed", gateway=self.id, error=str(exc))
        if not active.is_set():
            _log.warning("gateway_lease_lost", gateway=self.id, token=lease.token)

    def health(self) -> tuple[bool, bool, str]:
        """(ready, degraded, reason): degraded while a loop keeps failing."""
        failing = {n: f for n, f in self._step_failures.items() if f[0] >= STEP_FAILURES_DEGRADED}
        reasons = [f"{n} step failed {k} times in a row: {e}" for n, (k, e) in failing.items()]
        if self.supervisor.state is not HealthState.PASS:
            reasons.insert(0, self.supervisor.reason)
        market_degraded, market_reason = self.market.health()
        if market_degraded:  # a stream down (on REST fallback), or market data failing to start
            reasons.append(market_reason)
        reason = "; ".join(reasons) or f"gateway serves {len(self.markets)} markets"
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
            if name == "market":
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay_s)
            elif delay_s > self.settings.poll_interval_s:
                await asyncio.sleep(delay_s)

    # ----------------------------------------------------------------- reconciliation
    async def reconcile_now(self, *, full: bool = True) -> int:
        """Check every bot's ledger against the exchange (halting those that diverge); returns
        how many bots diverged. Failures are logged and retried at the next round."""
        self._reconciled_at = time.monotonic()
        try:
            found = await self.reconciler.check_all(full=full)
        except OmegaError as exc:
            _log.warning("reconcile_round_failed", gateway=self.id, error=str(exc))
            return 0
        return len(found)

    # ----------------------------------------------------------------- orders
    async def _commands_tick(self) -> None:
        idle_ms = 0 if self._reclaim_now else 5_000
        pending = await self.redis.stream_reclaim(
            _names.COMMANDS, _names.GATEWAY_GROUP, "gw", min_idle_ms=idle_ms
        )
        self._reclaim_now = False
        fresh = await self.redis.stream_read(
            _names.COMMANDS, _names.GATEWAY_GROUP, "gw", block_ms=200
        )
        for message in pending + fresh:
            if await self._handle(message):
                await self.redis.stream_ack(_names.COMMANDS, _names.GATEWAY_GROUP, message.id)

    async def _handle(self, message: StreamMessage) -> bool:
        """Execute one command; False leaves it pending (a transient failure: retried)."""
        cmd: dict[str, Any] = message.data
        attributes = {
            key: None if cmd.get(field) is None else str(cmd[field])
            for key, field in _SPAN_FIELDS.items()
        }
        with start_span(
            f"gateway {cmd.get('kind')}", tracer_name=_TRACER, kind=SpanKind.CONSUMER,
            context=extract(cmd), attributes=attributes,
        ):  # fmt: skip
            return await self._handle_command(cmd)

    async def _handle_command(self, cmd: dict[str, Any]) -> bool:
        bot, token = str(cmd["bot_id"]), int(cmd["token"])
        if self.lease is None or not await self.lease_mgr.holds(self.lease):
            return False  # no longer the active gateway: the new one executes it (fencing)
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
            order = await self._execute(cmd)
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

    async def _execute(self, cmd: dict[str, Any]) -> OrderUpdate | None:
        kind, cid, symbol = cmd["kind"], str(cmd["cid"]), str(cmd["symbol"])
        with start_span(f"ExchangeService {kind}", tracer_name=_TRACER, attributes={
            "omega.exchange.id": self.exchange.exchange_id, "omega.symbol": symbol,
            "omega.client_order_id": cid,
        }):  # fmt: skip
            return await self._execute_on_exchange(cmd, kind, cid, symbol)

    async def _execute_on_exchange(
        self, cmd: dict[str, Any], kind: str, cid: str, symbol: str
    ) -> OrderUpdate | None:
        params = {"clientOrderId": cid}
        if kind == "place":
            price = cmd.get("price")
            order = await self.exchange.create_order(
                symbol, cmd["type"], cmd["side"], Decimal(str(cmd["amount"])),
                None if price is None else Decimal(str(price)), params,
            )  # fmt: skip
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

    async def _publish(self, bot_id: str, update: OrderUpdate) -> None:
        cid = update.client_order_id
        info = {"bot": bot_id, "symbol": update.symbol, "order_id": update.order_id}
        opened = {k: v for k, v in self._open.items() if k != cid}
        if update.is_open:
            opened[cid] = info
        # Redis first: if it is down, nothing here changes and the update is sent again later
        await self.redis.set(_names.GATEWAY_OPEN, opened)
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
        else:  # nothing of a finished order stays: no key without expiry, no memory
            self._open.pop(cid, None)
            self._seen.pop(cid, None)


def _rejected(cmd: dict[str, Any], reason: str) -> OrderUpdate:
    price = cmd.get("price")
    return OrderUpdate(
        str(cmd["cid"]), None, str(cmd["symbol"]), cmd["side"], str(cmd["type"]), "rejected",
        Decimal(str(cmd["amount"])), Decimal(0), Decimal(0), Decimal(0), None,
        None if price is None else Decimal(str(price)), 0, reason,
    )  # fmt: skip

"""The gateway's order side: commands in, exchange calls, order updates out.

Bots append commands (place, cancel, sync) to their command partition's stream
(:mod:`.gateway_partitions`); the gateway holding the partition hands each to its
:class:`OrderDesk`, which executes it through the Exchange Service (idempotent client order
ids) and appends every change of an order to that bot's update stream, after recording it as
the exchange's view (``_publish``). Commands carry the bot's trace context and its lease token;
one older than the bot's newest lease (or than a token already seen) is dropped (fencing).

The desk also tracks the open orders of the partitions held here (each partition's map
``state:gw:{gateway:p<n>}:open``, written fenced by the partition's lease): the primary's
market feed delivers their updates from the exchange's order stream; a gateway that is not the
primary polls them (one ``fetch_order`` each). The gateway (:mod:`.gateway`) keeps the leases,
terms and lifecycle and calls in here.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any, Protocol

import structlog
from opentelemetry.trace import SpanKind

from omegafarm.bots._convert import update_from_order
from omegafarm.bots.config import FarmSettings
from omegafarm.bots.gateway_partitions import Term, legacy_drained
from omegafarm.bots.lease import GatewayLease, newest_token
from omegafarm.bots.ledger import OrderUpdate
from omegafarm.bots.reconcile import Reconciler
from omegafarm.core.errors import OmegaError, ServiceError, StoreUnavailableError, is_transient
from omegafarm.core.tracing import extract, start_span
from omegafarm.exchange import (
    DuplicateOrderIdError,
    ExchangeService,
    Order,
    OrderNotFoundError,
)
from omegafarm.store import RedisClient, StreamMessage, encode
from omegafarm.store import keys as _names

__all__ = ["FINISHED_ORDER_TTL_S", "OpenOrder", "OrderDesk", "encode_update"]

_log = structlog.get_logger("omegafarm.bots.gateway")
_TRACER = "omegafarm.bots.gateway"
_SPAN_FIELDS = {"omega.bot_id": "bot_id", "omega.command": "kind",
                "omega.client_order_id": "cid", "omega.symbol": "symbol"}  # fmt: skip
# An idle partition costs one blocking read a second (a new command returns it at once), and a
# look for commands left pending (a transient failure, 5 s idle) every RECLAIM_EVERY_S.
COMMAND_BLOCK_MS = 1_000
RECLAIM_EVERY_S = 5.0
QUIET_ORDER_S = 10.0  # the primary's safety look at silent open orders (venues in process)
PUSH_MISSED_WARN_S = 600.0  # health warns this long after the quiet look found a missed push
ENDED_KEEP = 10_000  # ended orders remembered (newest): a late, older update of one is dropped
_ENDED = frozenset({"closed", "canceled", "rejected", "expired"})
_XDEL = "return redis.call('XDEL', KEYS[1], ARGV[1])"  # one drained pre-partition command
_DEL_IF_EMPTY = "if redis.call('XLEN', KEYS[1]) == 0 then return redis.call('DEL', KEYS[1]) end"
# How long the record of a finished order (``state:gw:{gateway}:order:<cid>``) stays: a day, far
# longer than a reconciliation round (60 s) or a gateway take-over, so a lookup by client order
# id right after the order ended finds it; an open order's record has no expiry (the order is in
# its partition's open orders until it ends). No gateway key outlives its order by more than this.
FINISHED_ORDER_TTL_S = 86_400.0


def encode_update(update: OrderUpdate) -> dict[str, Any]:
    """An update as a stream message."""
    return asdict(update)


@dataclass(slots=True)
class OpenOrder:
    """One open order tracked by this gateway: whose it is, and what its bot was last told.
    Created when the order is placed (or its partition is taken), dropped when it ends."""

    bot: str
    symbol: str
    order_id: str | None
    told: tuple[Decimal, str] | None = None  # (filled, status) last published; None: not yet
    told_at: float = 0.0  # monotonic time of that publication

    @classmethod
    def from_saved(cls, info: dict[str, Any]) -> OpenOrder:
        """An entry of a partition's open-orders map (never told here yet)."""
        order_id = info.get("order_id")
        return cls(
            str(info["bot"]), str(info["symbol"]), None if order_id is None else str(order_id)
        )

    def saved(self) -> dict[str, Any]:
        """The entry in the partition's open-orders map (``state:gw:{gateway:p<n>}:open``)."""
        return {"bot": self.bot, "symbol": self.symbol, "order_id": self.order_id}


class GatewayPort(Protocol):
    """What the order side uses of the gateway: its connections and the leases it holds."""

    redis: RedisClient
    exchange: ExchangeService
    settings: FarmSettings
    id: str
    lease_mgr: GatewayLease
    reconciler: Reconciler
    partitions: dict[int, Term]

    def partition_of(self, bot_id: str) -> int: ...

    def partition_lease(self, p: int) -> GatewayLease: ...

    def primary_ready(self) -> bool: ...


class OrderDesk:
    """Command execution and open-order tracking of one gateway (see the module doc)."""

    def __init__(self, gateway: GatewayPort) -> None:
        self.gw = gateway
        self.redis, self.exchange = gateway.redis, gateway.exchange
        self._fence: dict[str, int] = {}
        self.open: dict[str, OpenOrder] = {}  # client order id -> the open order
        self.commands_done = 0
        self.dropped_stale = 0
        self.waiting: dict[int, dict[str, set[str]]] = {}  # partition -> bot -> pending ids
        self.reclaim_now: set[int] = set()  # partitions just taken: reclaim everything
        self.legacy_drained = False
        self._draining = False
        self._quiet_checked_at = 0.0
        self.quiet_order_s = QUIET_ORDER_S  # how long an open order may be unheard of
        self._held: set[int] = set()  # the held partitions the open orders were pruned for
        self.push_missed = 0  # order changes the paper push missed, found by the quiet look
        self.push_missed_at: list[tuple[float, int]] = []  # (monotonic, wall ms) of each miss
        self.stale_dropped = 0  # updates older than what the bot was told (a late answer)
        self.ended: OrderedDict[str, tuple[Decimal, str]] = OrderedDict()  # cid -> last told
        self._publishing: dict[str, tuple[asyncio.Lock, int]] = {}  # cid -> (lock, users)

    # ----------------------------------------------------------------- partitions
    async def load_partition(self, p: int, term: Term) -> bool:
        """Take over a partition: its open orders (polled from now on) and, at the first
        read, every command the previous holder read but did not finish. False while an
        upgraded farm's old stream is not drained yet."""
        if not self.legacy_drained:
            if not await legacy_drained(self.redis):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(term.done.wait(), self.gw.settings.poll_interval_s * 4)
                return False
            self.legacy_drained = True
        await self.redis.stream_group(_names.partition_commands(p), _names.GATEWAY_GROUP)
        saved: dict[str, dict[str, Any]] = await self.redis.get(_names.partition_open(p)) or {}
        loaded = {cid: OpenOrder.from_saved(info) for cid, info in saved.items()}
        for cid, record in loaded.items():
            self.open.setdefault(cid, record).told = None  # published again at the first
            # poll: an update written just before a Redis crash may be lost with its last
            # second of writes (what was told here of it is forgotten too)
            self.ended.pop(cid, None)
        term.loaded = True
        self.reclaim_now.add(p)
        if saved and self.gw.primary_ready():
            # the primary's stream tracks them from now on; what they did while nobody held
            # the partition (a take-over) is in no stream: one look by client order id
            await self.refresh_orders(loaded)
        _log.info("gateway_partition_taken", gateway=self.gw.id, partition=p,
                  token=term.lease.token, open_orders=len(saved))  # fmt: skip
        return True

    def forget_partition(self, p: int) -> None:
        """Partition ``p`` is handed over: forget its orders and pending commands here."""
        for cid in [c for c, r in self.open.items() if self.gw.partition_of(r.bot) == p]:
            del self.open[cid]
        self.waiting.pop(p, None)
        self.reclaim_now.discard(p)

    async def drain_legacy(self, term: Term) -> None:
        """A farm upgraded from the single-stream gateway: its open orders go to their
        partitions' maps and its unexecuted commands run here, in order, before any partition
        starts (partitions wait for :func:`legacy_drained`)."""
        old_open: dict[str, dict[str, Any]] = await self.redis.get(_names.GATEWAY_OPEN) or {}
        for p in sorted({self.gw.partition_of(i["bot"]) for i in old_open.values()}):
            mine = {c: i for c, i in old_open.items() if self.gw.partition_of(i["bot"]) == p}
            current: dict[str, Any] = await self.redis.get(_names.partition_open(p)) or {}
            await self.redis.set(_names.partition_open(p), {**current, **mine})
        if old_open:
            await self.redis.delete(_names.GATEWAY_OPEN)
        entries = await self.redis.stream_range(_names.COMMANDS)
        if not entries:
            return
        _log.info("gateway_legacy_commands", gateway=self.gw.id, commands=len(entries))
        delete = self.redis.script(_XDEL, name="gateway_legacy_xdel")
        delete_if_empty = self.redis.script(_DEL_IF_EMPTY, name="gateway_legacy_del")
        absolute = self.redis.keys.stream(_names.COMMANDS)
        lease_mgr = self.gw.lease_mgr

        async def primary_holds() -> bool:
            return await lease_mgr.holds(term.lease)

        self._draining = True
        try:
            for message in entries:
                if not await self.handle(message, redelivered=True, holds=primary_holds):
                    raise ServiceError(f"old-stream command {message.id} left for the next try")
                await delete.run_absolute([absolute], [message.id])
        finally:
            self._draining = False
            held = set(self.gw.partitions)
            self.open = {c: r for c, r in self.open.items()
                         if self.gw.partition_of(r.bot) in held}  # fmt: skip
        await delete_if_empty.run_absolute([absolute], [])  # the upgrade is done

    # ----------------------------------------------------------------- commands
    async def commands_tick(self, p: int, term: Term) -> None:
        """Read and execute partition ``p``'s commands, in order per bot: a bot whose command
        is left pending (a transient failure) runs nothing newer until it is done."""
        if not term.loaded and not await self.load_partition(p, term):
            return
        stream = _names.partition_commands(p)
        now = p in self.reclaim_now
        pending: list[StreamMessage] = []
        if now or time.monotonic() - term.reclaimed_s >= RECLAIM_EVERY_S:
            pending = await self.redis.stream_reclaim(
                stream, _names.GATEWAY_GROUP, "gw", min_idle_ms=0 if now else 5_000,
                count=10_000 if now else 100,
            )  # fmt: skip
            term.reclaimed_s = time.monotonic()
        self.reclaim_now.discard(p)
        fresh = await self.redis.stream_read(
            stream, _names.GATEWAY_GROUP, "gw", block_ms=COMMAND_BLOCK_MS
        )
        waiting = self.waiting.setdefault(p, {})
        for message, again in [(m, True) for m in pending] + [(m, False) for m in fresh]:
            if term.done.is_set():
                return  # handed over: the next holder reclaims what is left, in order
            bot = str(message.data.get("bot_id"))
            order = _entry_order(message.id)
            if any(_entry_order(i) < order for i in waiting.get(bot, ())):
                waiting[bot].add(message.id)  # an older command of this bot is pending
                continue
            if await self.handle(message, redelivered=again, holds=self._holder_of(p, term)):
                await self.redis.stream_ack(stream, _names.GATEWAY_GROUP, message.id)
                waiting.get(bot, set()).discard(message.id)
                if not waiting.get(bot, True):
                    waiting.pop(bot, None)
            else:
                waiting.setdefault(bot, set()).add(message.id)

    def _holder_of(self, p: int, term: Term) -> Any:
        lease_mgr = self.gw.partition_lease(p)

        async def holds() -> bool:
            return not term.done.is_set() and await lease_mgr.holds(term.lease)

        return holds

    async def handle(
        self, message: StreamMessage, *, redelivered: bool = False, holds: Any = None
    ) -> bool:
        """Execute one command; False leaves it pending (a transient failure: retried)."""
        cmd: dict[str, Any] = message.data
        attributes = {
            key: None if cmd.get(field) is None else str(cmd[field])
            for key, field in _SPAN_FIELDS.items()
        }
        if holds is None:  # the partition's lease, as held by this gateway
            p = self.gw.partition_of(str(cmd["bot_id"]))
            term = self.gw.partitions.get(p)
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
        if await self.gw.reconciler.halted(bot):  # the user decides first (`omega bots reconcile`)
            if cmd["kind"] == "place":
                await self.publish(bot, _rejected(cmd, "bot halted by reconciliation"))
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
                await self.publish(bot, _rejected(cmd, str(exc)))
            return True
        if order is not None:
            await self.publish(bot, order)
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
            record = self.open.get(cid)
            if record is None:
                self.open[cid] = OpenOrder(str(cmd["bot_id"]), symbol, order.id)
            else:  # known already (a re-delivered command): what it was told stays
                record.bot, record.symbol, record.order_id = str(cmd["bot_id"]), symbol, order.id
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

    # ----------------------------------------------------------------- open orders
    async def orders_tick(self) -> None:
        """Poll the open orders of the partitions held here (fills reach their bots), unless
        this gateway is the primary: its market feed tracks them (streamed, or polled by the
        stream's REST fallback)."""
        held = {p for p, t in self.gw.partitions.items() if t.loaded and not t.done.is_set()}
        if held != self._held:  # per change of the held partitions, not per tick and order
            self._held = held
            for cid in [c for c, r in self.open.items() if self.gw.partition_of(r.bot) not in held]:
                self.open.pop(cid, None)  # a partition handed over meanwhile: its holder polls
        if self.gw.primary_ready():
            await self._check_quiet_orders()
            return
        if self.open:
            await self._poll_open_orders()

    async def _check_quiet_orders(self) -> None:
        """The primary's fallback on a venue answering in this process (every paper exchange,
        durable or not: a look is a memory read, no request): an open order nothing was heard
        of for ``QUIET_ORDER_S`` is looked up once; a change found so was missed by the push,
        and is counted (``push_missed``) and logged (``gateway_push_missed``). On a ccxt venue
        the order stream, its gap fills by client order id and the periodic reconciliation are
        the only sources (no REST while the stream is up).

        Why it stays: the gap it was added for (an order of the restored book ending without a
        push after a restart) was a stream of the ended term closing after the new term's
        stream opened and clearing the engine's only listener (fixed in the paper push); the
        look costs nothing on the paper venue and a non-zero count says at once if a push is
        missed again."""
        if not self.exchange.answers_in_process:
            return
        now = time.monotonic()
        if now - self._quiet_checked_at < self.quiet_order_s:
            return
        self._quiet_checked_at = now
        quiet = {c: r for c, r in self.open.items() if now - r.told_at >= self.quiet_order_s}
        if quiet and (missed := await self.refresh_orders(quiet)):
            self.push_missed += len(missed)
            self.push_missed_at += [(time.monotonic(), int(time.time() * 1000))] * len(missed)
            _log.warning("gateway_push_missed", orders=len(missed), cids=missed[:10],
                         total=self.push_missed)  # fmt: skip

    def push_missed_recently(self) -> int:
        """Pushes missed in the last ``PUSH_MISSED_WARN_S`` (health warns while nonzero)."""
        since = time.monotonic() - PUSH_MISSED_WARN_S
        self.push_missed_at = [m for m in self.push_missed_at if m[0] >= since]
        return len(self.push_missed_at)

    def repairs(self) -> dict[str, Any]:
        """What the gateway found missing and repaired on its own, for people (the farm
        status, health): order changes the push missed (found late by the quiet look) and
        older answers dropped."""
        recent = self.push_missed_recently()
        return {
            "push_missed": self.push_missed,
            "push_missed_recent": recent,
            "push_missed_recent_s": PUSH_MISSED_WARN_S,
            "last_push_missed_ms": self.push_missed_at[-1][1] if recent else None,
            "stale_updates_dropped": self.stale_dropped,
        }

    async def save_open(self, bot_id: str, cid: str, info: dict[str, Any] | None) -> None:
        """Write the open orders of the bot's partition, fenced by the partition's lease (a
        gateway that lost the partition cannot change them)."""
        p = self.gw.partition_of(bot_id)
        entries = {c: r.saved() for c, r in self.open.items()
                   if c != cid and self.gw.partition_of(r.bot) == p}  # fmt: skip
        if info is not None:
            entries[cid] = info
        term = self.gw.partitions.get(p)
        if term is not None and not term.done.is_set():
            await self.gw.partition_lease(p).fenced_set(
                term.lease, _names.partition_open(p), encode(entries)
            )
        elif self._draining:  # the upgrade drain, before any partition has loaded its map
            current: dict[str, Any] = await self.redis.get(_names.partition_open(p)) or {}
            current.pop(cid, None)
            if info is not None:
                current[cid] = info
            await self.redis.set(_names.partition_open(p), current)

    async def _poll_open_orders(self) -> None:
        await self.refresh_orders(dict(self.open))

    async def refresh_orders(self, orders: dict[str, OpenOrder]) -> list[str]:
        """Look each order up once (by client order id) and tell its bot what changed;
        returns the client order ids of the orders that had changed."""
        changed: list[str] = []
        for cid, record in list(orders.items()):
            params = {"clientOrderId": cid}
            order = await self.exchange.fetch_order(record.order_id or "", record.symbol, params)
            update = update_from_order(order, cid)
            if (update.filled, update.status) != self.told(cid):
                if await self.publish(record.bot, update):
                    changed.append(cid)
            elif not update.is_open:
                await self.save_open(record.bot, cid, None)  # its partition's map, fenced
                self.open.pop(cid, None)
        return changed

    def told(self, cid: str) -> tuple[Decimal, str] | None:
        """(filled, status) the order's bot was last told here (None: nothing yet)."""
        record = self.open.get(cid)
        told = record.told if record is not None else None
        return told if told is not None else self.ended.get(cid)  # an end is final

    async def publish(self, bot_id: str, update: OrderUpdate) -> bool:
        """Record an order's change (the partition's open orders, the order's record) and tell
        its bot (its update stream and wake channel) and the live feed; False when the update
        is older than what the bot was told (dropped).

        One order's publications run one at a time, each checked against the last: the
        command's answer, the stream's push, the early queue and the REST looks (quiet orders,
        a partition taken over) each publish on their own task, and an older answer that
        finished last (a create's "open" after the push's "closed", a REST read taken before
        the fill) re-opened an ended order here: it stayed among the open orders, its record
        lost its expiry, and the quiet look later counted its end as a missed push."""
        cid = update.client_order_id
        lock, users = self._publishing.get(cid) or (asyncio.Lock(), 0)
        self._publishing[cid] = (lock, users + 1)
        try:
            async with lock:
                told = self.told(cid)
                if told is not None and _older(update, told):
                    self.stale_dropped += 1
                    if told[1] in _ENDED:
                        self.open.pop(cid, None)  # a record re-made by the stale answer
                    _log.info("gateway_stale_update_dropped", bot_id=bot_id, cid=cid,
                              status=update.status, told=told[1])  # fmt: skip
                    return False
                await self._publish(bot_id, update)
                return True
        finally:
            lock, users = self._publishing[cid]
            if users <= 1:
                del self._publishing[cid]
            else:
                self._publishing[cid] = (lock, users - 1)

    async def _publish(self, bot_id: str, update: OrderUpdate) -> None:
        cid = update.client_order_id
        info = {"bot": bot_id, "symbol": update.symbol, "order_id": update.order_id}
        # Redis first: if it is down, nothing here changes and the update is sent again later
        await self.save_open(bot_id, cid, info if update.is_open else None)
        ttl_s = None if update.is_open else FINISHED_ORDER_TTL_S  # open: kept while it works
        await self.redis.set(_names.order_record(cid), encode_update(update), ttl_s=ttl_s)
        await self.redis.stream_add(_names.updates(bot_id), encode_update(update), maxlen=5_000)
        with contextlib.suppress(OmegaError):  # the feed is for people; the stream is the truth
            await self.redis.publish(_names.bot_wake(bot_id), 1)  # its worker reads the stream
            await self.redis.publish(
                _names.FEED_ORDERS, {"bot_id": bot_id, **encode_update(update)}
            )
        if update.is_open:  # in place: the command and poll loops share this record
            record = self.open.setdefault(cid, OpenOrder(bot_id, update.symbol, update.order_id))
            record.told, record.told_at = (update.filled, update.status), time.monotonic()
        else:  # nothing of a finished order stays: no key without expiry, no memory but this
            self.open.pop(cid, None)
            self.ended[cid] = (update.filled, update.status)
            self.ended.move_to_end(cid)
            while len(self.ended) > ENDED_KEEP:
                self.ended.popitem(last=False)


async def _never() -> bool:
    return False


def _older(update: OrderUpdate, told: tuple[Decimal, str]) -> bool:
    """Whether ``update`` is behind what was told: less filled, or open after it ended (the
    same again is not: a sync command asks for it)."""
    filled, status = told
    return update.filled < filled or (status in _ENDED and update.is_open)


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

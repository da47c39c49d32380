"""Reconciliation: each bot's ledger against the exchange's records; never a silent divergence.

The gateway runs it when it becomes the active gateway (every order of every bot) and every
``reconcile_interval_s`` (open orders, and the exchange's recent orders and fills of the bot's
symbol). ``omega bots reconcile ID`` runs it for one bot on demand.

The ledger checked is the bot's saved ledger (its hot state: open orders and totals) plus the
updates waiting in its stream (applying a snapshot twice adds nothing); its finished orders
come from the bot's event stream (:mod:`._history`): every one in the stream's window at
take-over, those of the last :data:`RECENT_MS` in a periodic round. It is read *before* the
exchange, and an exchange only moves forward, so an exchange that is merely ahead (a fill the
bot has not applied yet) is not a divergence: its snapshot is sent to the bot's stream, as the
gateway would. A divergence is what cannot heal by itself, by client order id:

    unknown_to_exchange  the ledger has an acknowledged order the exchange does not know
    unknown_to_ledger    the exchange has an order with the bot's prefix the ledger lacks
    fills_differ        the ledger booked more (or other) fills than the exchange reports,
                         by the order's snapshot or by the sum of ``fetch_my_trades``
    status_differs       the ledger says ended, the exchange says open (or the reverse at
                         equal fills)
    balance_differs      the bot's account is its own (no other bot uses it) and the exchange
                         holds another amount of the base than the bot's position

A divergence halts the bot: ``state:farm:halt:{id}`` gets the reason and the differences, its
worker lets it go (no strategy runs, no command is executed), its status says ``halted``, the
live feed and the alert rules see it, and ``omega bots reconcile ID --adopt`` rebuilds the
ledger from the exchange's orders (``--keep`` leaves it halted).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

import structlog

from omegafarm.bots import _history, _view
from omegafarm.bots._convert import update_from_order
from omegafarm.bots.config import BotSettings
from omegafarm.bots.lease import BotWrite, Leases
from omegafarm.bots.ledger import Ledger, OrderUpdate, order_number
from omegafarm.core.errors import OmegaError, ServiceError
from omegafarm.exchange import ExchangeService, OrderNotFoundError
from omegafarm.exchange.models import Order, Trade
from omegafarm.store import RedisClient, encode
from omegafarm.store import keys as _names

_log = structlog.get_logger("omegafarm.bots.reconcile")
RECENT_MS = 3_600_000  # a periodic round also checks the orders that finished in the last hour


@dataclass(frozen=True)
class Divergence:
    """One difference between a bot's ledger and the exchange, by client order id."""

    kind: str
    client_order_id: str | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _split(symbol: str) -> tuple[str, str]:
    base, _, quote = symbol.partition("/")
    return base, quote.split(":", 1)[0]


class Reconciler:
    """Compares ledgers with one exchange account, halts and (on request) adopts."""

    def __init__(self, redis: RedisClient, exchange: ExchangeService) -> None:
        self.redis, self.exchange = redis, exchange
        self.halts = 0
        self.healed = 0
        self._round: dict[str, tuple[list[Order], list[Trade]]] = {}  # symbol -> history
        self._sharing: Counter[str] | None = None  # account -> enabled bots, during check_all

    # ----------------------------------------------------------------- reads
    async def halted(self, bot_id: str) -> dict[str, Any] | None:
        """The halt record of a bot (None: not halted by reconciliation)."""
        found: dict[str, Any] | None = await self.redis.get(_names.halt(bot_id))
        return found

    async def ledger(self, bot_id: str) -> Ledger | None:
        """The bot's saved ledger with the updates still waiting in its stream applied."""
        state: dict[str, Any] | None = await self.redis.get(_names.bot_state(bot_id))
        if not state:
            return None
        ledger = Ledger.restore(state["ledger"])  # the hot state (the first format converted)
        for message in await self.redis.stream_range(_names.updates(bot_id)):
            update = OrderUpdate(**message.data)
            if ledger.owns(update.client_order_id):
                ledger.apply(update)
        return ledger

    async def specs(self) -> list[BotSettings]:
        """Every registered bot."""
        raw: dict[str, Any] = await self.redis.get(_names.BOTS) or {}
        return [BotSettings.model_validate(v) for _, v in sorted(raw.items())]

    # ----------------------------------------------------------------- checking
    async def check(
        self, spec: BotSettings, *, full: bool = True, ledger: Ledger | None = None
    ) -> list[Divergence]:
        """The differences between the bot's ledger and the exchange (healing what is only
        behind); ``full`` checks every order, otherwise the open ones and recent history.

        The exchange's orders and trades of the symbol are read once per round (``fetch_orders``,
        ``fetch_my_trades``: shared by the bots of one symbol); an order they do not list (older
        than an exchange's window) is looked up alone by its client order id. ``ledger``: one
        read before this round's exchange reads (``check_all``); None reads it now."""
        if ledger is None:
            ledger = await self.ledger(spec.id)
            self._round.pop(spec.symbol, None)  # the exchange is read after the ledger
        if ledger is None:
            return []
        dedicated = not spec.symbol.count(":") and await self._dedicated(spec)
        held_before = await self._base_held(spec) if dedicated else None
        orders, trades = await self._history(spec.symbol)
        listed = {o.client_order_id: o for o in orders if o.client_order_id}
        out: list[Divergence] = []
        since = None if full else int(time.time() * 1000) - RECENT_MS
        finished = await _history.finished_orders(self.redis, ledger, since_ms=since)
        known = {**finished, **{o.client_order_id: o for o in ledger.open_orders()}}
        checked = known.values() if full else ledger.open_orders()
        for mine in list(checked):
            if mine.order_id is None and not mine.is_open:
                continue  # rejected before it reached the exchange
            found = listed.get(mine.client_order_id) or await self._lookup(mine)
            if found is None:
                if mine.order_id is not None:
                    detail = f"ledger: {_describe(mine)}; exchange: no such order"
                    out.append(Divergence("unknown_to_exchange", mine.client_order_id, detail))
                continue  # a pending order not sent yet: in flight
            theirs = update_from_order(found, mine.client_order_id)
            out += await self._compare(spec.id, ledger, mine, theirs)
        out += await self._unknown_to_ledger(spec, ledger, orders, known)
        out += self._trade_sums(list(known.values()), trades)
        if held_before is not None:
            out += await self._balance(spec, ledger, held_before)
        return out

    async def _history(self, symbol: str) -> tuple[list[Order], list[Trade]]:
        found = self._round.get(symbol)
        if found is None:
            orders = await self.exchange.fetch_orders(symbol)
            found = self._round[symbol] = (orders, await self.exchange.fetch_my_trades(symbol))
        return found

    async def _lookup(self, mine: OrderUpdate) -> Order | None:
        params = {"clientOrderId": mine.client_order_id}
        try:
            return await self.exchange.fetch_order(mine.order_id or "", mine.symbol, params)
        except OrderNotFoundError:
            return None

    async def _compare(
        self, bot_id: str, ledger: Ledger, mine: OrderUpdate, theirs: OrderUpdate
    ) -> list[Divergence]:
        cid = mine.client_order_id
        described = f"ledger: {_describe(mine)}; exchange: {_describe(theirs)}"
        if mine.filled > theirs.filled:
            return [Divergence("fills_differ", cid, described)]
        if not ledger.tracks(cid) and theirs.filled > mine.filled:  # finished long ago: the
            return [Divergence("fills_differ", cid, described)]  # bot cannot book it any more
        if mine.filled == theirs.filled:
            if mine.filled and (mine.cost, mine.fee) != (theirs.cost, theirs.fee):
                return [Divergence("fills_differ", cid, described)]
            if not mine.is_open and theirs.is_open:
                return [Divergence("status_differs", cid, described)]
            acknowledged = mine.order_id is not None
            if mine.is_open == theirs.is_open and (acknowledged or not mine.is_open):
                return []
        # the exchange is ahead: hand the bot the snapshot it has not seen yet
        await self.redis.stream_add(_names.updates(bot_id), asdict(theirs), maxlen=5_000)
        ledger.apply(theirs)  # as the bot will: the balance check compares the healed ledger
        self.healed += 1
        return []

    async def _unknown_to_ledger(
        self, spec: BotSettings, ledger: Ledger, orders: list[Order], known: dict[str, Any]
    ) -> list[Divergence]:
        """Orders with the bot's prefix its ledger lacks. The exchange was read after the
        ledger, so an order placed meanwhile is looked for in the ledger as saved now (a bot
        saves an order before sending it): found there, it is booked into the copy checked.

        A bot saves every order (its number ``n`` of ``{bot_id}-{n}``, counted in ``issued``)
        before sending it, in the same write that moves a finished one to its event stream,
        so an order numbered at or below ``issued`` is the ledger's: open, or finished (its
        amounts compared with the exchange's while it is in the event window read, ``known``).
        One numbered above it, or not of that form, is one the ledger never saw."""
        prefix = f"{spec.id}-"

        def lacks(cid: str) -> bool:
            n = order_number(spec.id, cid)
            issued = n is not None and n <= ledger.issued
            return not issued and cid not in known and not ledger.tracks(cid)

        missing = [
            o for o in orders
            if o.client_order_id and o.client_order_id.startswith(prefix)
            and lacks(o.client_order_id)
        ]  # fmt: skip
        if not missing:
            return []
        fresh = await self.ledger(spec.id)
        out = []
        for order in missing:
            theirs = update_from_order(order)
            if fresh is not None and fresh.owns(theirs.client_order_id):
                ledger.register(_as_pending(theirs))
                ledger.apply(theirs)
                continue
            detail = f"exchange: {_describe(theirs)}; ledger: no such order"
            out.append(Divergence("unknown_to_ledger", theirs.client_order_id, detail))
        return out

    @staticmethod
    def _trade_sums(known: list[OrderUpdate], trades: list[Trade]) -> list[Divergence]:
        """Fills the exchange reports (``fetch_my_trades``) per order, against the ledger's
        orders (open, and finished in the event window checked)."""
        by_order = {o.order_id: o for o in known if o.order_id is not None}
        sums: dict[str, Decimal] = {}
        for trade in trades:
            if trade.order_id in by_order and trade.amount is not None:
                sums[trade.order_id] = sums.get(trade.order_id, Decimal(0)) + trade.amount
        out = []
        for order_id, total in sums.items():
            mine = by_order[order_id]
            if total < mine.filled:
                detail = f"ledger filled {mine.filled}; exchange trades sum {total}"
                out.append(Divergence("fills_differ", mine.client_order_id, detail))
        return out

    async def _base_held(self, spec: BotSettings) -> Decimal:
        base, _ = _split(spec.symbol)
        asset = (await self.exchange.fetch_balance()).assets.get(base)
        return Decimal(0) if asset is None or asset.total is None else asset.total

    async def _balance(
        self, spec: BotSettings, ledger: Ledger, before: Decimal
    ) -> list[Divergence]:
        """A dedicated account (no other bot uses it) holds exactly the bot's base position.
        Compared only when the balance did not move while the orders were read (read before
        and after them): then the orders, and the ledger healed from them, match it."""
        held = await self._base_held(spec)
        if held != before or held == ledger.position:
            return []
        base, _ = _split(spec.symbol)
        detail = f"ledger position {ledger.position} {base}; exchange balance {held} {base}"
        return [Divergence("balance_differs", None, detail)]

    async def _dedicated(self, spec: BotSettings) -> bool:
        account = self.exchange.settings.account
        sharing = self._sharing  # one count per round (check_all), not the bot list per bot
        if sharing is None:
            sharing = _accounts(await self.specs())
        return spec.account == account and sharing[spec.account] == 1

    # ----------------------------------------------------------------- acting
    async def check_all(self, *, full: bool) -> dict[str, list[Divergence]]:
        """Check every running bot; halt each that diverges. Returns the divergences found."""
        found: dict[str, list[Divergence]] = {}
        every = await self.specs()
        self._sharing = _accounts(every)
        try:
            await self._check_each(every, full, found)
        finally:
            self._sharing = None
        return found

    async def _check_each(
        self, every: list[BotSettings], full: bool, found: dict[str, list[Divergence]]
    ) -> None:
        specs = [s for s in every if s.enabled and not await self.halted(s.id)]
        ledgers = {s.id: await self.ledger(s.id) for s in specs}  # every ledger first, then
        self._round.clear()  # the exchange, once per symbol: it can only be ahead of them
        for spec in specs:
            ledger = ledgers[spec.id]
            if ledger is None:
                continue
            try:
                diffs = await self.check(spec, full=full, ledger=ledger)
            except OmegaError as exc:  # the exchange or Redis failed: try again next round
                _log.warning("reconcile_failed", bot_id=spec.id, error=str(exc))
                continue
            if diffs:
                found[spec.id] = diffs
                await self.halt(spec.id, diffs)

    async def halt(self, bot_id: str, diffs: list[Divergence]) -> None:
        """Halt the bot with the reason (status, live feed, alerts read this record)."""
        kinds = sorted({d.kind for d in diffs})
        reason = (
            f"reconciliation: {len(diffs)} difference(s) with the exchange ({', '.join(kinds)})"
        )
        record = {"reason": reason, "at_ms": int(time.time() * 1000),
                  "differences": [d.as_dict() for d in diffs]}  # fmt: skip
        await self.redis.set(_names.halt(bot_id), record)
        await _view.control_changed(self.redis)  # its worker lets it go at once
        await self.redis.publish(_names.FEED_BOTS, {"kind": "halted", "id": bot_id, **record})
        self.halts += 1
        _log.error("bot_halted_divergence", bot_id=bot_id, reason=reason,
                   first=diffs[0].detail)  # fmt: skip

    async def adopt(self, spec: BotSettings) -> Ledger:
        """Rebuild the bot's ledger from the exchange's orders of the bot and lift the halt.

        Takes the bot's lease for the write (a worker still running it makes this fail with a
        clear error), which also bumps its fencing token: nothing the old copy sent runs."""
        leases = Leases(self.redis, "reconcile", 10.0)
        lease = await leases.acquire(spec.id)
        if lease is None:
            holder = await leases.holder(spec.id)
            raise ServiceError(f"bot {spec.id} is still held by worker {holder}; try again soon")
        try:
            state: dict[str, Any] = await self.redis.get(_names.bot_state(spec.id)) or {}
            base, quote = _split(spec.symbol)
            ledger = Ledger(spec.id, spec.symbol, base, quote, spec.capital)  # every order: the
            prefix = f"{spec.id}-"  # saved snapshot is the hot state of it
            mine = [o for o in await self.exchange.fetch_orders(spec.symbol)
                    if o.client_order_id and o.client_order_id.startswith(prefix)]  # fmt: skip
            for order in sorted(mine, key=lambda o: o.timestamp_ms or 0):
                update = update_from_order(order)
                ledger.register(_as_pending(update))
                ledger.apply(update)
            saved = state.get("ledger") or {}
            seqs = [_seq(cid) for cid in (*ledger.orders, *saved.get("orders", {}))]
            seqs.append(int(saved.get("issued", 0)))
            new_state = {**state, "ledger": ledger.snapshot(),
                         "seq": max([int(state.get("seq", 0)), *seqs]), "halted": None}  # fmt: skip
            marker = {"kind": _history.ADOPTED, "at_ms": int(time.time() * 1000)}
            events = [encode(e) for e in (marker, *ledger.history_events())]
            if not await leases.fenced_save(lease, BotWrite(encode(new_state), events)):
                raise ServiceError(f"bot {spec.id}: lease moved while adopting; try again")
            await self.redis.delete(_names.halt(spec.id))
            await _view.control_changed(self.redis)  # a worker picks it up again at once
        finally:
            await leases.release(lease)
        _log.warning("bot_ledger_adopted", bot_id=spec.id, orders=len(ledger.orders))
        return ledger


def _as_pending(update: OrderUpdate) -> OrderUpdate:
    """The order as the bot registers it before sending (nothing filled yet)."""
    zero = Decimal(0)
    return OrderUpdate(
        update.client_order_id, None, update.symbol, update.side, update.type, "pending",
        update.amount, zero, zero, zero, update.fee_currency, update.price, update.ts_ms,
    )  # fmt: skip


def _seq(cid: str) -> int:
    tail = cid.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _describe(u: OrderUpdate) -> str:
    return f"{u.status} {u.side} {u.amount} filled {u.filled} cost {u.cost} fee {u.fee}"


def _accounts(specs: list[BotSettings]) -> Counter[str]:
    """How many enabled bots use each account."""
    return Counter(s.account for s in specs if s.enabled)

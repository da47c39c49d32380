"""A bot's own books: its orders, fills, position, cash, fees and round-trip trades.

Bots that share one exchange account each keep a ledger, and a ledger only ever sees orders
whose client order id it issued, so one bot can never take another's fill or balance. Fills
are derived from successive snapshots of an order (``filled``, ``cost`` and ``fee`` only grow),
which works the same for the paper exchange and for any ccxt exchange, and makes applying a
snapshot twice harmless (idempotent: a replayed update adds nothing).

Money is ``Decimal``. A *trade* is one round trip: from a flat position to a position and back
to flat (a flip closes one trade and opens the next).

Two modes. A backtest keeps every order, fill and trade in memory (``history=True``, the
default: its report lists them all). A live bot keeps only its *hot state* (``history=False``):
the open (and pending) orders, the running totals, the round trip in progress, counters
(closed trades, wins, the highest order number issued) and the last :data:`RECENT_FINISHED`
finished orders' final amounts. Everything that leaves the hot state (a finished order, a fill,
a finished trade) is queued in :attr:`Ledger.events` for the host to append to the bot's event
stream in the same write as the snapshot, so a snapshot's size depends on what is open, never
on the bot's age.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, Literal

Side = Literal["buy", "sell"]
ZERO = Decimal(0)
OPEN_STATUSES = frozenset({"open", "new", "pending"})
SNAPSHOT_FORMAT = 2  # 1 (no "format" key): every order, the last 500 fills and trades
# A late or replayed update of a finished order is harmless in two ways, both of constant size:
# * ``issued``, the highest n of the ids ``{bot_id}-{n}`` registered: an id at or below it that
#   is not open is finished, so an update of it is recognised as the bot's and ignored, however
#   old the order (a replay of unacknowledged updates after a restart, a new gateway
#   re-publishing, a reconciliation heal racing the bot: nothing is booked twice);
# * the final (filled, cost, fee) of the last RECENT_FINISHED finished orders: a snapshot that
#   reports *more* fill after the end (an order the gateway reported rejected that the exchange
#   had taken after all, healed by reconciliation) is still booked, its increment only. For an
#   older one the bot cannot book it, and reconciliation reports ``fills_differ`` (a halt:
#   never a silent difference). A heal comes within one reconciliation round (60 s by
#   default), in which a bot finishes about one order per candle: 8 leaves room for bursts.
RECENT_FINISHED = 8


@dataclass(frozen=True)
class OrderUpdate:
    """One snapshot of an order as the exchange reports it (cumulative amounts)."""

    client_order_id: str
    order_id: str | None
    symbol: str
    side: Side
    type: str
    status: str  # pending (not yet acknowledged), open, closed, canceled, rejected
    amount: Decimal
    filled: Decimal
    cost: Decimal  # quote spent or received so far
    fee: Decimal  # fee paid so far
    fee_currency: str | None
    price: Decimal | None
    ts_ms: int
    reason: str | None = None

    # Written out, not generated: a frozen dataclass's own __init__ sets each field through
    # object.__setattr__ (3.6 us for these 14; this is 1.3 us), and a backtest makes two or
    # three of these per order and one per poll of a resting order. Same parameters, same
    # defaults (a test compares them with the fields); the dataclass still gives eq, hash, repr.
    def __init__(
        self,
        client_order_id: str,
        order_id: str | None,
        symbol: str,
        side: Side,
        type: str,
        status: str,
        amount: Decimal,
        filled: Decimal,
        cost: Decimal,
        fee: Decimal,
        fee_currency: str | None,
        price: Decimal | None,
        ts_ms: int,
        reason: str | None = None,
    ) -> None:
        self.__dict__.update(
            client_order_id=client_order_id,
            order_id=order_id,
            symbol=symbol,
            side=side,
            type=type,
            status=status,
            amount=amount,
            filled=filled,
            cost=cost,
            fee=fee,
            fee_currency=fee_currency,
            price=price,
            ts_ms=ts_ms,
            reason=reason,
        )

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True)
class Fill:
    """The part of an order that executed between two snapshots."""

    client_order_id: str
    side: Side
    amount: Decimal
    price: Decimal
    cost: Decimal
    fee: Decimal
    ts_ms: int

    def __init__(  # written out for speed, as OrderUpdate's
        self,
        client_order_id: str,
        side: Side,
        amount: Decimal,
        price: Decimal,
        cost: Decimal,
        fee: Decimal,
        ts_ms: int,
    ) -> None:
        self.__dict__.update(
            client_order_id=client_order_id,
            side=side,
            amount=amount,
            price=price,
            cost=cost,
            fee=fee,
            ts_ms=ts_ms,
        )


@dataclass
class Trade:
    """One round trip: flat → position → flat."""

    side: Literal["long", "short"]
    entry_ts_ms: int
    entry_price: Decimal
    amount: Decimal
    exit_ts_ms: int | None = None
    exit_price: Decimal | None = None
    fee: Decimal = ZERO
    pnl: Decimal = ZERO  # net of fees
    _exit_cost: Decimal = ZERO
    _exit_amount: Decimal = ZERO

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly view (Decimals as strings)."""
        out = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in out.items()}


def order_number(bot_id: str, client_order_id: str) -> int | None:
    """``n`` of a client order id ``{bot_id}-{n}`` (None: not of this form)."""
    head, _, tail = client_order_id.rpartition("-")
    return int(tail) if head == bot_id and tail.isdigit() else None


@dataclass
class Ledger:
    """Position, cash and PnL of one bot in one symbol, built from its own orders only.

    ``orders``: every order (``history``) or the open and pending ones; ``fills``: every fill
    (``history``) or none; ``trades``: every round trip (``history``) or the one in progress.
    """

    bot_id: str
    symbol: str
    base: str
    quote: str
    capital: Decimal
    cash: Decimal = ZERO
    position: Decimal = ZERO
    avg_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO  # gross of fees
    fees: Decimal = ZERO
    orders: dict[str, OrderUpdate] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    trades: list[Trade] = field(default_factory=list)
    history: bool = True
    issued: int = 0  # the highest n of the client order ids ``{bot_id}-{n}`` registered
    closed_trades: int = 0
    wins: int = 0  # closed trades with pnl > 0 (net of fees)
    finished: dict[str, tuple[Decimal, Decimal, Decimal]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list, repr=False)
    # the open orders' client ids, oldest first: a dict, not a set (a set of strings iterates
    # in an order that changes with every process's hash seed, and the backtest polls the
    # open orders in this order: its report must not depend on the process)
    _open: dict[str, None] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.cash and not self.orders:
            self.cash = self.capital
        self.reindex()

    def reindex(self) -> None:
        """Rebuild the index of open orders (after ``orders`` was replaced)."""
        self._open = dict.fromkeys(k for k, o in self.orders.items() if o.is_open)
        for cid in self.orders:
            self._issue(cid)

    # ----------------------------------------------------------------- queries
    def owns(self, client_order_id: str) -> bool:
        """Whether this ledger issued ``client_order_id`` (open, or finished at any time)."""
        if client_order_id in self.orders or client_order_id in self.finished:
            return True
        n = order_number(self.bot_id, client_order_id)
        return n is not None and 0 < n <= self.issued

    def tracks(self, client_order_id: str) -> bool:
        """Whether a snapshot of this order can still change the books: it is open, or among
        the recently finished ones (:data:`RECENT_FINISHED`)."""
        return client_order_id in self.orders or client_order_id in self.finished

    def open_orders(self) -> list[OrderUpdate]:
        """Orders not yet finished."""
        return [self.orders[k] for k in self._open]

    @property
    def has_open_orders(self) -> bool:
        """Whether any order is still working."""
        return bool(self._open)

    def equity(self, price: Decimal) -> Decimal:
        """Cash plus the position marked at ``price``."""
        return self.cash + self.position * price

    def unrealized_pnl(self, price: Decimal) -> Decimal:
        """Gain of the open position at ``price`` against its average entry."""
        return (price - self.avg_price) * self.position

    @property
    def open_trade(self) -> Trade | None:
        """The round trip in progress, if any."""
        return self.trades[-1] if self.trades and self.trades[-1].exit_ts_ms is None else None

    @property
    def win_rate(self) -> float | None:
        """Share of closed round trips with a positive PnL (None before the first)."""
        return self.wins / self.closed_trades if self.closed_trades else None

    def drain_events(self) -> list[dict[str, Any]]:
        """The events queued since the last drain (the host appends them to the bot's event
        stream in the same write as the snapshot)."""
        out, self.events = self.events, []
        return out

    # ----------------------------------------------------------------- updates
    def register(self, update: OrderUpdate) -> None:
        """Record an order this bot is about to send (status ``pending``)."""
        cid = update.client_order_id
        if cid not in self.orders and cid not in self.finished:
            self.orders[cid] = update
            self._issue(cid)
            if update.is_open:
                self._open[cid] = None
            else:
                self._finish(update)

    def apply(self, update: OrderUpdate) -> Fill | None:
        """Apply a snapshot of one of our orders; returns the new fill (None if none)."""
        cid = update.client_order_id
        prev = self.orders.get(cid)
        if prev is None:
            done = self.finished.get(cid)
            if done is not None:  # a late snapshot of a finished order: book what it adds
                return self._late(update, *done)
            if self.owns(cid):
                return None  # an order finished long ago (its history is in the event stream)
            raise KeyError(f"{self.bot_id}: order {cid} is not ours")
        if update.filled < prev.filled:  # an older snapshot arriving late: keep the newer
            return None
        self.orders[cid] = update
        is_open = update.status in OPEN_STATUSES
        if is_open:
            self._open[cid] = None
        else:
            self._open.pop(cid, None)
        fill = self._fill(update, prev.filled, prev.cost, prev.fee)
        if not is_open:
            self._finish(update)
        return fill

    def _late(
        self, update: OrderUpdate, filled: Decimal, cost: Decimal, fee: Decimal
    ) -> Fill | None:
        if update.filled <= filled:
            return None
        self.finished[update.client_order_id] = (update.filled, update.cost, update.fee)
        fill = self._fill(update, filled, cost, fee)
        if self.history:
            self.orders[update.client_order_id] = update
        else:
            self.events.append({"kind": "order", **asdict(update)})
        return fill

    def _fill(
        self, update: OrderUpdate, filled: Decimal, cost: Decimal, fee: Decimal
    ) -> Fill | None:
        qty = update.filled - filled
        if qty <= ZERO:  # Decimal zeros here: no int converted per comparison
            return None
        paid = update.cost - cost
        fill = Fill(update.client_order_id, update.side, qty, paid / qty, paid,
                    update.fee - fee, update.ts_ms)  # fmt: skip
        self._book(fill, update.fee_currency)
        return fill

    def _issue(self, cid: str) -> None:
        n = order_number(self.bot_id, cid)
        if n is not None and n > self.issued:
            self.issued = n

    def _finish(self, update: OrderUpdate) -> None:
        """The order ended: remember its final amounts; off the hot state unless ``history``."""
        cid = update.client_order_id
        self.finished.pop(cid, None)
        self.finished[cid] = (update.filled, update.cost, update.fee)
        while len(self.finished) > RECENT_FINISHED:
            del self.finished[next(iter(self.finished))]
        if not self.history:
            del self.orders[cid]
            self.events.append({"kind": "order", **asdict(update)})

    def _book(self, fill: Fill, fee_currency: str | None) -> None:
        if self.history:
            self.fills.append(fill)
        else:
            self.events.append({"kind": "fill", **asdict(fill)})
        signed = fill.amount if fill.side == "buy" else -fill.amount
        self.cash += -fill.cost if fill.side == "buy" else fill.cost
        if fee_currency == self.base:
            signed -= fill.fee if fill.side == "buy" else ZERO
            fee_quote = fill.fee * fill.price
            if fill.side == "sell":
                self.cash -= fee_quote
        else:
            fee_quote = fill.fee
            self.cash -= fill.fee
        self.fees += fee_quote
        self._move(signed, fill.price, fee_quote, fill.ts_ms)

    def _move(self, signed: Decimal, price: Decimal, fee: Decimal, ts_ms: int) -> None:
        pos = self.position
        if pos == ZERO or (pos > ZERO) == (signed > ZERO):  # open or add
            new = pos + signed
            self.avg_price = (self.avg_price * abs(pos) + price * abs(signed)) / abs(new)
            self.position = new
            trade = self.open_trade
            if trade is None:
                side: Literal["long", "short"] = "long" if signed > ZERO else "short"
                trade = Trade(side, ts_ms, price, abs(signed))
                self.trades.append(trade)
            else:
                trade.entry_price = self.avg_price
                trade.amount = abs(new)
            trade.fee += fee
            trade.pnl -= fee
            return
        closing = min(abs(signed), abs(pos))
        direction = Decimal(1) if pos > ZERO else Decimal(-1)
        gain = (price - self.avg_price) * closing * direction
        self.realized_pnl += gain
        share = fee * closing / abs(signed)
        trade = self.open_trade
        if trade is not None:
            trade.pnl += gain - share
            trade.fee += share
            trade._exit_cost += price * closing
            trade._exit_amount += closing
        self.position = pos + (closing if pos < ZERO else -closing)
        if self.position == ZERO:
            self.avg_price = ZERO
            if trade is not None:
                trade.exit_ts_ms = ts_ms
                trade.exit_price = trade._exit_cost / trade._exit_amount
                self._close(trade)
        rest = abs(signed) - closing
        if rest > ZERO:  # a flip: the remainder opens the next trade
            self._move(rest if signed > ZERO else -rest, price, fee - share, ts_ms)

    def _close(self, trade: Trade) -> None:
        self.closed_trades += 1
        self.wins += trade.pnl > ZERO
        if not self.history:
            self.trades.remove(trade)
            self.events.append({"kind": "trade", **asdict(trade)})

    def history_events(self) -> list[dict[str, Any]]:
        """A ``history`` ledger's finished orders, fills and closed trades as the events a
        hot-state ledger would have queued (e.g. for a ledger rebuilt from the exchange)."""
        out = [{"kind": "order", **asdict(o)} for o in self.orders.values() if not o.is_open]
        out += [{"kind": "fill", **asdict(f)} for f in self.fills]
        out += [{"kind": "trade", **asdict(t)} for t in self.trades if t.exit_ts_ms is not None]
        return out

    # ----------------------------------------------------------------- persistence
    def snapshot(self) -> dict[str, Any]:
        """The hot state (for Redis): open orders, totals, counters, the open round trip and
        the recently finished orders' final amounts. Its size does not grow with the number
        of orders ever placed; the history is the event stream's (see :attr:`events`)."""
        trade = self.open_trade
        return {
            "format": SNAPSHOT_FORMAT,
            "bot_id": self.bot_id,
            "symbol": self.symbol,
            "base": self.base,
            "quote": self.quote,
            "capital": self.capital,
            "cash": self.cash,
            "position": self.position,
            "avg_price": self.avg_price,
            "realized_pnl": self.realized_pnl,
            "fees": self.fees,
            "orders": {k: asdict(self.orders[k]) for k in self.orders if k in self._open},
            "open_trade": None if trade is None else asdict(trade),
            "issued": self.issued,
            "closed_trades": self.closed_trades,
            "wins": self.wins,
            "finished": {k: list(v) for k, v in self.finished.items()},
        }

    @classmethod
    def restore(cls, data: dict[str, Any], *, history: bool = False) -> Ledger:
        """The ledger a ``snapshot()`` describes (hot state only unless ``history``).

        A snapshot of the first format (every order, the last 500 fills and trades: farms
        before the event stream) is converted on load: its open orders, totals and open round
        trip become the hot state, its counters are counted from the trades it kept, and its
        finished orders and closed trades are queued in :attr:`events`, so the first save
        writes them to the event stream."""
        ledger = cls(
            bot_id=data["bot_id"],
            symbol=data["symbol"],
            base=data["base"],
            quote=data["quote"],
            capital=Decimal(data["capital"]),
            cash=Decimal(data["cash"]),
            position=Decimal(data["position"]),
            avg_price=Decimal(data["avg_price"]),
            realized_pnl=Decimal(data["realized_pnl"]),
            fees=Decimal(data["fees"]),
            history=history,
        )
        ledger.cash = Decimal(data["cash"])  # also 0 with no order open (not the capital)
        if "format" not in data:
            ledger._convert_v1(data)
            return ledger
        ledger.orders = {k: OrderUpdate(**v) for k, v in data["orders"].items()}
        ledger.trades = [] if data["open_trade"] is None else [Trade(**data["open_trade"])]
        ledger.closed_trades = int(data["closed_trades"])
        ledger.wins = int(data["wins"])
        ledger.finished = {k: (Decimal(f), Decimal(c), Decimal(e))
                           for k, (f, c, e) in data["finished"].items()}  # fmt: skip
        ledger.reindex()
        ledger.issued = max(ledger.issued, int(data["issued"]))
        return ledger

    def _convert_v1(self, data: dict[str, Any]) -> None:
        orders = [OrderUpdate(**v) for v in data["orders"].values()]
        trades = [Trade(**t) for t in data["trades"]]
        closed = [t for t in trades if t.exit_ts_ms is not None]
        self.closed_trades = len(closed)
        self.wins = sum(1 for t in closed if t.pnl > 0)
        for order in orders:
            self._issue(order.client_order_id)
        if self.history:
            self.orders = {o.client_order_id: o for o in orders}
            self.fills = [Fill(**f) for f in data["fills"]]
            self.trades = trades
        else:
            self.orders = {o.client_order_id: o for o in orders if o.is_open}
            self.trades = [t for t in trades if t.exit_ts_ms is None][-1:]
            self.events = [{"kind": "order", **asdict(o)} for o in orders if not o.is_open]
            self.events += [{"kind": "trade", **asdict(t)} for t in closed]
        for order in orders:
            if not order.is_open:
                self.finished[order.client_order_id] = (order.filled, order.cost, order.fee)
        while len(self.finished) > RECENT_FINISHED:
            del self.finished[next(iter(self.finished))]
        self._open = dict.fromkeys(k for k, o in self.orders.items() if o.is_open)


def order_of_event(event: dict[str, Any]) -> OrderUpdate:
    """The final snapshot an ``order`` event of the event stream carries."""
    return OrderUpdate(**{k: v for k, v in event.items() if k != "kind"})


def trade_of_event(event: dict[str, Any]) -> Trade:
    """The finished round trip a ``trade`` event of the event stream carries."""
    return Trade(**{k: v for k, v in event.items() if k != "kind"})

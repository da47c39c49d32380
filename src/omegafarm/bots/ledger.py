"""A bot's own books: its orders, fills, position, cash, fees and round-trip trades.

Bots that share one exchange account each keep a ledger, and a ledger only ever sees orders
whose client order id it issued, so one bot can never take another's fill or balance. Fills
are derived from successive snapshots of an order (``filled``, ``cost`` and ``fee`` only grow),
which works the same for the paper exchange and for any ccxt exchange, and makes applying a
snapshot twice harmless (idempotent: a replayed update adds nothing).

Money is ``Decimal``. A *trade* is one round trip: from a flat position to a position and back
to flat (a flip closes one trade and opens the next).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, Literal

Side = Literal["buy", "sell"]
ZERO = Decimal(0)
OPEN_STATUSES = frozenset({"open", "new", "pending"})


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


@dataclass
class Ledger:
    """Position, cash and PnL of one bot in one symbol, built from its own orders only."""

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
    _open: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        if not self.cash and not self.orders:
            self.cash = self.capital
        self.reindex()

    def reindex(self) -> None:
        """Rebuild the index of open orders (after ``orders`` was replaced)."""
        self._open = {k for k, o in self.orders.items() if o.is_open}

    # ----------------------------------------------------------------- queries
    def owns(self, client_order_id: str) -> bool:
        """Whether this ledger issued ``client_order_id``."""
        return client_order_id in self.orders

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

    # ----------------------------------------------------------------- updates
    def register(self, update: OrderUpdate) -> None:
        """Record an order this bot is about to send (status ``pending``)."""
        if update.client_order_id not in self.orders:
            self.orders[update.client_order_id] = update
            if update.is_open:
                self._open.add(update.client_order_id)

    def apply(self, update: OrderUpdate) -> Fill | None:
        """Apply a snapshot of one of our orders; returns the new fill (None if none)."""
        if update.client_order_id not in self.orders:
            raise KeyError(f"{self.bot_id}: order {update.client_order_id} is not ours")
        prev = self.orders[update.client_order_id]
        if update.filled < prev.filled:  # an older snapshot arriving late: keep the newer
            return None
        self.orders[update.client_order_id] = update
        if update.is_open:
            self._open.add(update.client_order_id)
        else:
            self._open.discard(update.client_order_id)
        qty = update.filled - prev.filled
        if qty <= 0:
            return None
        cost = update.cost - prev.cost
        fee = update.fee - prev.fee
        fill = Fill(update.client_order_id, update.side, qty, cost / qty, cost, fee, update.ts_ms)
        self._book(fill, update.fee_currency)
        return fill

    def _book(self, fill: Fill, fee_currency: str | None) -> None:
        self.fills.append(fill)
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
        if pos == 0 or (pos > 0) == (signed > 0):  # open or add
            new = pos + signed
            self.avg_price = (self.avg_price * abs(pos) + price * abs(signed)) / abs(new)
            self.position = new
            trade = self.open_trade
            if trade is None:
                side: Literal["long", "short"] = "long" if signed > 0 else "short"
                trade = Trade(side, ts_ms, price, abs(signed))
                self.trades.append(trade)
            else:
                trade.entry_price = self.avg_price
                trade.amount = abs(new)
            trade.fee += fee
            trade.pnl -= fee
            return
        closing = min(abs(signed), abs(pos))
        direction = Decimal(1) if pos > 0 else Decimal(-1)
        gain = (price - self.avg_price) * closing * direction
        self.realized_pnl += gain
        share = fee * closing / abs(signed)
        trade = self.open_trade
        if trade is not None:
            trade.pnl += gain - share
            trade.fee += share
            trade._exit_cost += price * closing
            trade._exit_amount += closing
        self.position = pos + (closing if pos < 0 else -closing)
        if self.position == 0:
            self.avg_price = ZERO
            if trade is not None:
                trade.exit_ts_ms = ts_ms
                trade.exit_price = trade._exit_cost / trade._exit_amount
        rest = abs(signed) - closing
        if rest > 0:  # a flip: the remainder opens the next trade
            self._move(rest if signed > 0 else -rest, price, fee - share, ts_ms)

    # ----------------------------------------------------------------- persistence
    def snapshot(self) -> dict[str, Any]:
        """Everything needed to rebuild this ledger (for Redis)."""
        return {
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
            "orders": {k: asdict(v) for k, v in self.orders.items()},
            "fills": [asdict(f) for f in self.fills[-500:]],
            "trades": [asdict(t) for t in self.trades[-500:]],
        }

    @classmethod
    def restore(cls, data: dict[str, Any]) -> Ledger:
        """The ledger a ``snapshot()`` describes."""
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
        )
        ledger.orders = {k: OrderUpdate(**v) for k, v in data["orders"].items()}
        ledger.fills = [Fill(**f) for f in data["fills"]]
        ledger.trades = [Trade(**t) for t in data["trades"]]
        ledger.reindex()
        return ledger

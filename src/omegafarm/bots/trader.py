"""Trader: one strategy, its ledger, its risk limits and its brackets, with no I/O at all.

A host feeds it events (``candle``, ``tick``, ``order_update``) and executes the commands it
leaves in ``outbox`` (``PlaceOrder``, ``CancelOrder``). The backtest runner and the live bot
are two such hosts, which is why the same strategy code runs unchanged in both.

Risk limits are checked before any order leaves: a bot that would break one stops trading
(``halted`` says why), cancels its open orders and, for the daily loss limit, closes its
position. Stop-losses are watched here (a candle or tick through the stop sends a market exit);
take-profits rest on the exchange as limit orders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import structlog

from omegafarm.bots.feed import CandleFeed
from omegafarm.bots.ledger import ZERO, Fill, Ledger, OrderUpdate, Side
from omegafarm.bots.strategy import Candle, Strategy, Tick

DAY_MS = 86_400_000


@dataclass(frozen=True)
class PlaceOrder:
    """Send a new order (market when ``price`` is None)."""

    client_order_id: str
    symbol: str
    side: Side
    type: str
    amount: Decimal
    price: Decimal | None

    def __init__(  # written out for speed, as ledger.OrderUpdate's (one per order)
        self,
        client_order_id: str,
        symbol: str,
        side: Side,
        type: str,
        amount: Decimal,
        price: Decimal | None,
    ) -> None:
        self.__dict__.update(
            client_order_id=client_order_id,
            symbol=symbol,
            side=side,
            type=type,
            amount=amount,
            price=price,
        )


@dataclass(frozen=True)
class CancelOrder:
    """Cancel an order of this bot."""

    client_order_id: str
    order_id: str | None
    symbol: str


Command = PlaceOrder | CancelOrder


@dataclass(frozen=True)
class RiskLimits:
    """Per-bot limits; None disables one."""

    max_position: Decimal | None = None  # absolute base units, counting open orders
    max_daily_loss: Decimal | None = None  # quote units, from the equity at the day's start
    max_open_orders: int | None = None


@dataclass
class Brackets:
    """The stop-loss and take-profit of the current position."""

    stop_loss: float | None = None
    take_profit: float | None = None
    tp_order: str | None = None
    closing: str | None = None
    entries: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)


class Trader:
    """Runs one strategy for one bot on one symbol and says which orders to send."""

    def __init__(
        self,
        bot_id: str,
        strategy: Strategy,
        ledger: Ledger,
        feed: CandleFeed,
        limits: RiskLimits | None = None,
        *,
        seq: int = 0,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        self.bot_id = bot_id
        self.strategy = strategy
        self.ledger = ledger
        self.feed = feed
        self.limits = limits or RiskLimits()
        self.brackets = Brackets()
        self.outbox: list[Command] = []
        self.halted: str | None = None
        self.seq = seq
        self._now_ms = now_ms
        self._day = -1
        self._day_equity = ZERO
        self._log = structlog.get_logger("omegafarm.bots", bot_id=bot_id, symbol=ledger.symbol)
        strategy.bind(self)

    # ----------------------------------------------------------------- host events
    def start(self) -> None:
        """Call the strategy's ``on_start``."""
        self.strategy.on_start()

    def stop(self) -> None:
        """Call the strategy's ``on_stop``."""
        self.strategy.on_stop()

    def candle(self, candle: Candle) -> None:
        """A candle closed (already visible in the feed): stops, risk, then the strategy.

        (The backtest's bar loop calls the strategy directly when no halt, daily loss limit or
        stop-loss is set: a check added here must be added to its condition too.)"""
        if self.halted:
            return
        if self.limits.max_daily_loss is not None:
            self._check_day(candle.ts_ms)
        stop = self.brackets.stop_loss
        if stop is not None:
            pos = self.ledger.position
            if pos and (candle.low <= stop if pos > 0 else candle.high >= stop):
                self.log("stop_loss_hit", stop=stop, low=candle.low, high=candle.high)
                self.close_position()
                return
        self.strategy.on_candle(candle)

    def tick(self, tick: Tick) -> None:
        """A live price between candles: stops, then the strategy."""
        if self.halted:
            return
        stop, pos = self.brackets.stop_loss, self.ledger.position
        if stop is not None and pos and (tick.last <= stop if pos > 0 else tick.last >= stop):
            self.log("stop_loss_hit", stop=stop, last=tick.last)
            self.close_position()
            return
        self.strategy.on_ticker(tick)

    def order_update(self, update: OrderUpdate) -> Fill | None:
        """One of our orders changed: book the fill, manage brackets, tell the strategy."""
        fill = self.ledger.apply(update)
        b = self.brackets
        if fill is not None:
            entry = b.entries.pop(update.client_order_id, None)
            if entry is not None and self.ledger.position != ZERO:
                b.stop_loss = entry[0] if entry[0] is not None else b.stop_loss
                if entry[1] is not None:
                    b.take_profit = entry[1]
            self._sync_take_profit()
        if not update.is_open:
            b.entries.pop(update.client_order_id, None)
            if b.closing == update.client_order_id:
                b.closing = None
            if b.tp_order == update.client_order_id:
                b.tp_order = None
        if not self.halted:
            self.strategy.on_order_update(update, fill)
        return fill

    # ----------------------------------------------------------------- strategy wishes
    def order(
        self,
        side: Side,
        amount: Decimal | float,
        limit: float | None,
        stop_loss: float | None = None,
        take_profit: float | None = None,
    ) -> str | None:
        """Queue an order after the risk checks; None (and no order) when refused."""
        qty = amount if isinstance(amount, Decimal) else Decimal(repr(float(amount)))
        if self.halted or qty <= ZERO:
            return None
        reason = self._refusal(side, qty)
        if reason is not None:
            self.halt(reason)
            return None
        cid = self._next_id()
        price = None if limit is None else Decimal(repr(float(limit)))
        kind = "market" if price is None else "limit"
        self.ledger.register(self._pending(cid, side, kind, qty, price))
        self.outbox.append(PlaceOrder(cid, self.ledger.symbol, side, kind, qty, price))
        if stop_loss is not None or take_profit is not None:
            self.brackets.entries[cid] = (stop_loss, take_profit)
        return cid

    def cancel(self, client_order_id: str) -> None:
        """Queue a cancel of one of our open orders (unknown or finished ones are ignored)."""
        order = self.ledger.orders.get(client_order_id)
        if order is None or not order.is_open:
            return
        self.outbox.append(CancelOrder(client_order_id, order.order_id, order.symbol))

    def close_position(self) -> str | None:
        """Market order back to flat (once; the take-profit order is cancelled first)."""
        b = self.brackets
        pos = self.ledger.position
        if pos == ZERO or b.closing is not None:
            return None
        if b.tp_order is not None:
            self.cancel(b.tp_order)
        cid = self._next_id()
        side: Side = "sell" if pos > ZERO else "buy"
        self.ledger.register(self._pending(cid, side, "market", abs(pos), None))
        self.outbox.append(PlaceOrder(cid, self.ledger.symbol, side, "market", abs(pos), None))
        b.closing = cid
        return cid

    # ----------------------------------------------------------------- the strategy's Broker
    @property
    def position(self) -> Decimal:
        """Signed position of this bot (base units)."""
        return self.ledger.position

    @property
    def cash(self) -> Decimal:
        """This bot's cash (quote units)."""
        return self.ledger.cash

    def open_orders(self) -> list[OrderUpdate]:
        """This bot's orders that are still working."""
        return self.ledger.open_orders()

    def set_stop_loss(self, price: float | None) -> None:
        """Set (or clear) the stop-loss of the current position (checked on each candle)."""
        self.brackets.stop_loss = price

    def set_take_profit(self, price: float | None) -> None:
        """Set (or clear) the take-profit of the current position."""
        self.brackets.take_profit = price
        self._sync_take_profit(force=True)

    def halt(self, reason: str) -> None:
        """Stop trading for good: say why, cancel open orders (and flatten on a loss limit)."""
        if self.halted:
            return
        self.halted = reason
        self.log("bot_halted", reason=reason)
        for order in self.ledger.open_orders():
            self.cancel(order.client_order_id)
        if reason.startswith("max daily loss"):
            self.brackets.tp_order = None
            self.close_position()

    def drain(self) -> list[Command]:
        """The commands queued since the last drain."""
        out, self.outbox = self.outbox, []
        return out

    def equity(self) -> Decimal:
        """Cash plus position at the last close."""
        last = self.feed.last_close()
        price = Decimal(repr(last)) if last == last else self.ledger.avg_price
        return self.ledger.equity(price)

    def log(self, event: str, **fields: Any) -> None:
        """Log one event with the bot id and symbol bound."""
        self._log.info(event, **fields)

    # ----------------------------------------------------------------- internals
    def _next_id(self) -> str:
        self.seq += 1
        return f"{self.bot_id}-{self.seq}"

    def _pending(
        self, cid: str, side: Side, kind: str, qty: Decimal, price: Decimal | None
    ) -> OrderUpdate:
        ts = self._now_ms() if self._now_ms else int(self.feed.ts_ms[-1]) if self.feed.stop else 0
        return OrderUpdate(
            cid, None, self.ledger.symbol, side, kind, "pending", qty, ZERO, ZERO, ZERO,
            None, price, ts,
        )  # fmt: skip

    def _refusal(self, side: Side, qty: Decimal) -> str | None:
        lim = self.limits
        if lim.max_open_orders is None and lim.max_position is None:
            return None  # no limit to check (the daily loss limit is checked per candle)
        open_orders = self.ledger.open_orders()
        if lim.max_open_orders is not None and len(open_orders) >= lim.max_open_orders:
            return f"max open orders {lim.max_open_orders} reached"
        if lim.max_position is not None:
            pos = self.ledger.position
            buys = sum((o.amount - o.filled for o in open_orders if o.side == "buy"), ZERO)
            sells = sum((o.amount - o.filled for o in open_orders if o.side == "sell"), ZERO)
            buys += qty if side == "buy" else ZERO
            sells += qty if side == "sell" else ZERO
            worst = max(abs(pos + buys), abs(pos - sells))
            if worst > lim.max_position and worst > abs(pos):
                return f"max position {lim.max_position} would be exceeded ({worst})"
        return None

    def _check_day(self, ts_ms: int) -> None:
        day = ts_ms // DAY_MS
        equity = self.equity()
        if day != self._day:
            self._day, self._day_equity = day, equity
            return
        lim = self.limits.max_daily_loss
        if lim is not None and self._day_equity - equity > lim:
            self.halt(f"max daily loss {lim} exceeded ({self._day_equity - equity:.8f})")

    def _sync_take_profit(self, *, force: bool = False) -> None:
        b = self.brackets
        pos = self.ledger.position
        if pos == ZERO:
            b.stop_loss = b.take_profit = None
            if b.tp_order is not None:
                self.cancel(b.tp_order)
            return
        tp_open = self.ledger.orders.get(b.tp_order) if b.tp_order else None
        if tp_open is not None and tp_open.is_open:
            if not force and tp_open.amount - tp_open.filled == abs(pos):
                return
            self.cancel(tp_open.client_order_id)
        b.tp_order = None
        if b.take_profit is None or b.closing is not None:
            return
        side: Side = "sell" if pos > ZERO else "buy"
        cid = self._next_id()
        price = Decimal(repr(float(b.take_profit)))
        self.ledger.register(self._pending(cid, side, "limit", abs(pos), price))
        self.outbox.append(PlaceOrder(cid, self.ledger.symbol, side, "limit", abs(pos), price))
        b.tp_order = cid

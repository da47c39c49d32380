"""The matching engine: accepts orders, and fills them bar by bar as the clock moves.

No look-ahead: an order sent at clock time ``t`` reaches the book at ``t + latency_ms`` and is
matched only against bars that open at or after that moment. Each bar has two events:

1. its open (handled once the clock has moved past the bar's open time): orders that arrived
   by then meet the simulated book around the open price: a market order walks it (taker,
   pays slippage); a limit order takes whatever is at or better than its price (taker) and
   the rest rests (IOC cancels it, FOK needs all or nothing, post-only is canceled if it would
   take);
2. its close (once the clock reaches the close time): resting limit orders, oldest first,
   fill at their own price (maker) when the bar traded through them (buy: low < price; sell:
   high > price), all together at most ``participation * bar volume``; then swap positions
   are liquidated if the bar reached their liquidation price.

With intrabar fills (``market_fills``; the default with the wall clock) a market order that
arrives inside a bar does not wait for the next open: at its arrival it meets the book around
the bar's price at that moment, on a path through the bar's OHLC (:mod:`._intrabar`). Without
them (backtests) it fills at the next bar's open.

*When* each event happens, in time order across symbols, is :mod:`._schedule`'s; this module is
what an event does to the orders.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from omegafarm.exchange.paper import _ccxt as ccxt
from omegafarm.exchange.paper._account import Account, liquidation_order, liquidation_price
from omegafarm.exchange.paper._book import Book
from omegafarm.exchange.paper._fill import book_at  # the fill model chosen in BookSettings
from omegafarm.exchange.paper._intrabar import intrabar_price
from omegafarm.exchange.paper._schedule import BarSchedule
from omegafarm.exchange.paper._source import Candles, MarketSource, timeframe_ms
from omegafarm.exchange.paper._state import (
    ONE,
    ZERO,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    PaperMarket,
    Side,
    TimeInForce,
    dec,
    floor_to,
    round_to,
)
from omegafarm.exchange.paper.config import PaperSettings

_BOOK_CACHE_SIZE = 256  # books remembered (a few per symbol and bar is all that repeats)


def _out_of_reach(order: Order, high: float, low: float) -> bool:
    """Whether a resting limit order is clearly beyond the bar's range, judged with floats.

    ``float`` and the shortest repr ``dec`` uses are each within 2e-16 (relative) of the exact
    values, so a margin of 1e-9 can only leave the exact Decimal test to decide, never
    contradict it. NaN compares False: it goes to the exact test too."""
    assert order.price is not None  # only limit orders rest
    price = float(order.price)
    if order.side == "buy":  # fills only when low < price
        return low >= price * (1 + 1e-9)
    return high <= price * (1 - 1e-9)  # a sell fills only when high > price


class Engine:
    """Orders, fills, the account and the clock of one paper exchange."""

    def __init__(self, settings: PaperSettings, source: MarketSource) -> None:
        self.settings = settings
        self.source = source
        self.tf_ms = timeframe_ms(source.timeframe)
        self.schedule = BarSchedule(
            source,
            self.tf_ms,
            source.start_ts_ms + settings.warmup_bars * self.tf_ms,
            fast=settings.fast_path,
            intrabar=settings.intrabar_market_fills,
        )
        self.markets: dict[str, PaperMarket] = {}
        for spec in source.specs.values():
            base_id = f"{spec.base}{spec.quote}"
            self.markets[spec.symbol] = PaperMarket(spec.symbol, base_id, spec, swap=False)
            if settings.perpetuals:
                swap_symbol = f"{spec.symbol}:{spec.quote}"
                self.markets[swap_symbol] = PaperMarket(swap_symbol, f"{base_id}-PERP", spec, True)
        self.account = Account(dict(settings.initial_balances))
        self.leverage = {s: settings.leverage for s, m in self.markets.items() if m.swap}
        self.orders: dict[str, Order] = {}
        self.by_client_id: dict[str, Order] = {}
        self.fills: list[Fill] = []
        self._open: dict[str, list[Order]] = {s: [] for s in source.specs}
        self._swaps = {
            s: [m for m in self.markets.values() if m.swap and m.source_symbol == s]
            for s in source.specs
        }
        self._order_seq = 0
        self._fill_seq = 0
        # books remembered per (symbol, bar, mid) unless settings.fast_path is off
        self._books: dict[tuple[str, int, float], Book] = {}
        # told of every order change (the order) and of closed bars (None): the paper push
        self.listener: Callable[[Order | None], None] | None = None

    # ------------------------------------------------------------------ market data
    def candles(self, source_symbol: str) -> tuple[Candles, int]:
        """The candles of a source symbol and how many of them are closed on the clock."""
        return self.source.candles(source_symbol, self.now_ms), self.schedule.closed(source_symbol)

    def last_price(self, source_symbol: str) -> float:
        """Close of the last closed bar (the open of the first bar before any has closed)."""
        schedule = self.schedule  # self.candles(), without two calls (once per order)
        c, n = self.source.candles(source_symbol, schedule.now_ms), schedule.closed(source_symbol)
        return float(c.close[n - 1]) if n else float(c.open[0])

    def book(self, market: PaperMarket) -> Book:
        """The simulated book right now, around the last price."""
        c, n = self.candles(market.source_symbol)
        return self._book_at(market, c, n, self.last_price(market.source_symbol))

    def _book_at(self, market: PaperMarket, c: Candles, stop: int, mid: float) -> Book:
        """``book_at``, remembered: many orders and queries on one bar share one book (a book
        is immutable and depends only on closed bars, the mid and the settings)."""
        if not self.settings.fast_path:
            return book_at(c, stop, mid, market.spec, self.settings.book)
        key = (market.spec.symbol, stop, mid)  # the source symbol
        found = self._books.get(key)
        if found is None:
            if len(self._books) >= _BOOK_CACHE_SIZE:
                self._books.clear()
            found = self._books[key] = book_at(c, stop, mid, market.spec, self.settings.book)
        return found

    # ------------------------------------------------------------------ orders
    def place(
        self,
        market: PaperMarket,
        order_type: OrderType,
        side: Side,
        amount: float,
        price: float | None,
        tif: TimeInForce,
        reduce_only: bool,
        client_id: str | None,
    ) -> Order:
        """Validate, reserve funds for and queue a new order (it fills on later bars)."""
        spec = market.spec
        qty = floor_to(dec(amount), spec.amount_step)
        if qty < spec.amount_step:
            raise ccxt.InvalidOrder(
                f"paper: amount {amount} of {market.symbol} is below the minimum {spec.amount_step}"
            )
        limit = None
        if order_type == "limit":
            if price is None or price <= 0:
                raise ccxt.InvalidOrder(
                    f"paper: a limit order on {market.symbol} needs a price > 0"
                )
            limit = max(round_to(dec(price), spec.price_tick), spec.price_tick)
        ref = limit if limit is not None else dec(self.last_price(spec.symbol))
        if spec.min_cost is not None and qty * ref < spec.min_cost:
            raise ccxt.InvalidOrder(
                f"paper: cost {qty * ref} of {market.symbol} is below the minimum {spec.min_cost}"
            )
        if tif == "PO" and limit is not None:
            book = self.book(market)
            if (limit >= book.ask(0)) if side == "buy" else (limit <= book.bid(0)):
                raise ccxt.OrderImmediatelyFillable(
                    f"paper: post-only {side} at {limit} on {market.symbol} would take liquidity"
                )
        self._order_seq += 1
        now = self.schedule.now_ms
        order = Order(
            id=str(self._order_seq),
            client_id=client_id,
            market=market,
            type=order_type,
            side=side,
            amount=qty,
            price=limit,
            tif=tif,
            reduce_only=reduce_only,
            ts_ms=now,
            arrival_ts_ms=now + self.settings.latency_ms,
            reserve_currency=spec.quote if market.swap or side == "buy" else spec.base,
            last_update_ts_ms=now,
        )
        self.account.reserve(order, self._reservation(order, ref))
        self.orders[order.id] = order
        if client_id is not None:
            self.by_client_id[client_id] = order
        self._open[spec.symbol].append(order)
        if self.listener is not None:  # the push wakes: this order's arrival is an event
            self.listener(order)
        return order

    def _reservation(self, order: Order, ref: Decimal) -> Decimal:
        market, settings = order.market, self.settings
        if order.type == "market":
            ref = ref * (ONE + settings.market_buffer)
        if not market.swap:
            if order.side == "sell":
                return order.amount
            return order.amount * ref * (ONE + settings.taker_fee)
        if order.reduce_only and not self._closable(order):
            raise ccxt.InvalidOrder(
                f"paper: reduce-only {order.side} on {market.symbol}: no position"
            )
        lev = self.leverage[market.symbol]
        opening = ZERO if order.reduce_only else max(ZERO, order.amount - self._closable(order))
        return opening * ref / lev + order.amount * ref * settings.taker_fee

    def _closable(self, order: Order) -> Decimal:
        return self.account.closable(self.account.positions.get(order.market.symbol), order.side)

    def cancel(self, order: Order) -> None:
        """Cancel an open order and release what it reserved."""
        if order.status != "open":
            raise ccxt.OrderNotFound(f"paper: order {order.id} is {order.status}, not open")
        self._end(order, "canceled", "canceled by user")

    def _end(self, order: Order, status: OrderStatus, reason: str | None) -> None:
        order.status = status
        order.reason = reason
        order.last_update_ts_ms = max(self.schedule.now_ms, order.last_trade_ts_ms or 0)
        self.account.release(order)
        queue = self._open[order.market.spec.symbol]
        if order in queue:
            queue.remove(order)
        if self.listener is not None:
            self.listener(order)

    def _fail(self, order: Order, reason: str) -> None:
        self._end(order, "canceled" if order.filled else "rejected", reason)

    # ------------------------------------------------------------------ the clock
    @property
    def now_ms(self) -> int:
        """The simulated now (kept by the schedule)."""
        return self.schedule.now_ms

    def advance_to(self, ts_ms: int) -> int:
        """Move the clock to ``ts_ms``: every bar that opened before it is opened (arrivals
        fill at its open, or inside it with intrabar fills), every bar that closed by it is
        closed (resting orders, liquidations), all in time order. Returns bars closed."""
        closed = self.schedule.advance_to(ts_ms, self)
        if closed and self.listener is not None:
            self.listener(None)
        return closed

    def next_event_ms(self) -> int:
        """The next simulated time an order can change: the next bar close, or sooner the
        arrival of an order still on its way (the paper push wakes then)."""
        now = self.now_ms
        target = (now // self.tf_ms + 1) * self.tf_ms
        for queue in self._open.values():
            for order in queue:
                if not order.arrived:
                    target = min(target, max(order.arrival_ts_ms, now))
        return target

    def idle(self, symbol: str) -> bool:
        """Whether the symbol's bars can change nothing: no order waits on it and no swap
        position of it could be liquidated (stays true while the clock moves: only ``place``
        adds orders, and only fills of its own orders open a position)."""
        if self._open[symbol]:
            return False
        positions = self.account.positions
        for market in self._swaps[symbol]:
            pos = positions.get(market.symbol)
            if pos is not None and pos.contracts:
                return False
        return True

    def next_arrival(self, symbol: str, after_ms: int) -> int | None:
        """The earliest arrival after ``after_ms`` of a market order still on its way."""
        times = [
            o.arrival_ts_ms
            for o in self._open[symbol]
            if o.type == "market" and not o.arrived and o.arrival_ts_ms > after_ms
        ]
        return min(times) if times else None

    def arrive_intrabar(self, symbol: str, c: Candles, i: int, at_ms: int) -> None:
        """Market orders reaching the book at ``at_ms``, inside bar ``i``, meet the book
        around the bar's price at that moment (:func:`intrabar_price`), as takers."""
        f = (at_ms - int(c.ts[i])) / self.tf_ms
        mid = intrabar_price(
            float(c.open[i]), float(c.high[i]), float(c.low[i]), float(c.close[i]), f
        )
        for order in list(self._open[symbol]):
            if order.type == "market" and not order.arrived and order.arrival_ts_ms <= at_ms:
                self._arrive(order, c, i, at_ms, mid)

    def open_bar(self, symbol: str, c: Candles, i: int) -> None:
        """Orders that arrived by this bar's open meet the book around the open (taker)."""
        bar_ts = c.ts_list()[i]
        for order in list(self._open[symbol]):
            if not order.arrived and order.arrival_ts_ms <= bar_ts and order.status == "open":
                self._arrive(order, c, i, bar_ts)

    def close_bar(self, symbol: str, c: Candles, i: int) -> None:
        """Resting orders fill where the bar traded through them; then liquidations."""
        queue = self._open[symbol]
        bar_ts = c.ts_list()[i]
        if queue:
            high_f, low_f = float(c.high[i]), float(c.low[i])
            exact: tuple[Decimal, Decimal] | None = None  # high and low as Decimals, on need
            budget = ZERO
            for order in list(queue):
                if not (order.arrived and order.status == "open" and order.type == "limit"):
                    continue
                if self.settings.fast_path and _out_of_reach(order, high_f, low_f):
                    continue  # the exact test in _rest would say "not through"
                if exact is None:
                    exact = dec(high_f), dec(low_f)
                    budget = dec(float(c.volume[i])) * dec(self.settings.participation)
                budget = self._rest(order, exact[0], exact[1], budget, bar_ts)
        for market in self._swaps[symbol]:
            self._check_liquidation(market, c, i, bar_ts)

    def _takeable(self, order: Order) -> Decimal:
        if order.reduce_only:
            return min(order.remaining, self._closable(order))
        return order.remaining

    def _arrive(self, order: Order, c: Candles, i: int, ts: int, mid: float | None = None) -> None:
        order.arrived = True
        book = self._book_at(order.market, c, i, float(c.open[i]) if mid is None else mid)
        want = self._takeable(order)
        if want <= ZERO:  # a Decimal zero: no int to convert per order
            self._end(order, "canceled", "reduce-only order has nothing to reduce")
            return
        if order.type == "market":
            filled, cost = book.walk(order.side, want)
            if self._fill(order, filled, cost, "taker", ts) and order.status == "open":
                self._end(order, "closed" if order.filled else "canceled", "book exhausted")
            return
        assert order.price is not None  # limit orders always carry a price (set in place())
        crosses = order.price >= book.ask(0) if order.side == "buy" else order.price <= book.bid(0)
        if order.tif == "PO" and crosses:
            self._end(order, "canceled", "post-only order would have taken liquidity")
            return
        filled, cost = book.walk(order.side, want, order.price) if crosses else (ZERO, ZERO)
        if order.tif == "FOK" and filled < order.remaining:
            self._end(order, "canceled", "fill-or-kill order could not fill completely")
            return
        if filled and not self._fill(order, filled, cost, "taker", ts):
            return
        if order.tif == "IOC" and order.status == "open":
            self._end(order, "canceled", "immediate-or-cancel remainder")

    def _rest(self, order: Order, high: Decimal, low: Decimal, budget: Decimal, ts: int) -> Decimal:
        assert order.price is not None  # only limit orders rest
        through = low < order.price if order.side == "buy" else high > order.price
        if not through:
            return budget
        qty = min(self._takeable(order), floor_to(budget, order.market.spec.amount_step))
        if qty <= ZERO:
            return budget
        self._fill(order, qty, qty * order.price, "maker", ts)
        return budget - qty

    def _fill(self, order: Order, qty: Decimal, cost: Decimal, liq: str, ts: int) -> bool:
        """Execute ``qty`` for ``cost``; False (and the order ends) if it cannot be paid."""
        market = order.market
        rate = self.settings.taker_fee if liq == "taker" else self.settings.maker_fee
        price = cost / qty
        pos = None
        if market.swap:
            pos = self.account.position(market.symbol, self.leverage[market.symbol])
            need = self.account.swap_cost(pos, order.side, qty, price, rate)
        else:
            need = self.account.spot_cost(order, qty, price, rate)
        if not self.account.can_pay(order, need):
            self._fail(order, f"insufficient {order.reserve_currency} to pay the fill")
            return False
        self._fill_seq += 1
        fill = Fill(
            id=str(self._fill_seq),
            order_id=order.id,
            symbol=market.symbol,
            side=order.side,
            taker_or_maker="taker" if liq == "taker" else "maker",
            price=price,
            amount=qty,
            cost=cost,
            fee=cost * rate,
            fee_currency=market.spec.quote,
            ts_ms=ts,
        )
        if pos is not None:
            self.account.settle_swap(order, pos, fill)
        else:
            self.account.settle_spot(order, fill)
        order.fills.append(fill)
        self.fills.append(fill)
        order.filled += qty
        order.cost += cost
        order.fee += fill.fee
        order.last_trade_ts_ms = order.last_update_ts_ms = ts
        if order.remaining <= ZERO:
            self._end(order, "closed", None)
        elif self.listener is not None:
            self.listener(order)
        return True

    def _check_liquidation(self, market: PaperMarket, c: Candles, i: int, ts: int) -> None:
        pos = self.account.positions.get(market.symbol)
        if pos is None or not pos.contracts:
            return
        liq = liquidation_price(pos, self.settings.maintenance_margin_rate)
        assert liq is not None  # a position with contracts always has a liquidation price
        opn, high, low = dec(float(c.open[i])), dec(float(c.high[i])), dec(float(c.low[i]))
        if pos.contracts > 0 and low <= liq:
            price = min(opn, liq)
        elif pos.contracts < 0 and high >= liq:
            price = max(opn, liq)
        else:
            return
        self._record_liquidation(market, pos.contracts, price, ts)

    def _record_liquidation(
        self, market: PaperMarket, contracts: Decimal, price: Decimal, ts: int
    ) -> None:
        pos = self.account.positions[market.symbol]
        self.account.liquidate(pos, market.spec.quote, ts)
        self._order_seq += 1
        self._fill_seq += 1
        order = liquidation_order(
            market, contracts, price, ts, str(self._order_seq), str(self._fill_seq)
        )
        self.fills.extend(order.fills)
        self.orders[order.id] = order

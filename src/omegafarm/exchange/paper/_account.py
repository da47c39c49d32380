"""The paper account: wallets with free/used amounts, order reservations and swap positions.

Rules (all amounts Decimal, fees in the quote currency):

- An open order reserves what it may spend (``Order.reserved``, moved from free to used):
  spot buy ``amount * price * (1 + taker)``, spot sell ``amount`` of the base, swap
  ``opening_amount * price / leverage + amount * price * taker``; a market order uses the last
  price times ``1 + market_buffer``. When the order ends, what is left goes back to free.
- A fill pays first from the order's reservation, then from free. A fill that cannot be paid
  cancels the rest of the order instead of driving a balance negative.
- Swaps are one-way and isolated: a fill first closes the opposite position (realizing PnL and
  releasing that share of the collateral), then opens with margin ``qty * price / leverage``.
  A position never loses more than its collateral.
"""

from __future__ import annotations

from decimal import Decimal

from omegafarm.exchange.paper import _ccxt as ccxt
from omegafarm.exchange.paper._state import (
    ONE,
    ZERO,
    Fill,
    Order,
    PaperMarket,
    Position,
    Side,
    Wallet,
)


class Account:
    """Wallets and positions of the one paper account."""

    def __init__(self, initial: dict[str, Decimal]) -> None:
        self.wallets: dict[str, Wallet] = {c: Wallet(free=Decimal(a)) for c, a in initial.items()}
        self.positions: dict[str, Position] = {}

    def wallet(self, currency: str) -> Wallet:
        """The wallet of ``currency`` (created empty on first use)."""
        found = self.wallets.get(currency)
        if found is None:
            found = self.wallets[currency] = Wallet()
        return found

    def reserve(self, order: Order, amount: Decimal) -> None:
        """Move ``amount`` from free to used for ``order``, or raise InsufficientFunds."""
        wallet = self.wallet(order.reserve_currency)
        if amount > wallet.free:
            raise ccxt.InsufficientFunds(
                f"paper: {order.side} {order.amount} {order.market.symbol} needs {amount} "
                f"{order.reserve_currency}, free is {wallet.free}"
            )
        wallet.free -= amount
        wallet.used += amount
        order.reserved += amount

    def release(self, order: Order) -> None:
        """Return whatever ``order`` still holds to free (called when it ends)."""
        if order.reserved:
            wallet = self.wallet(order.reserve_currency)
            wallet.used -= order.reserved
            wallet.free += order.reserved
            order.reserved = ZERO

    def can_pay(self, order: Order, amount: Decimal) -> bool:
        """Whether the order's reservation plus free balance covers ``amount``."""
        return order.reserved + self.wallet(order.reserve_currency).free >= amount

    def pay(self, order: Order, amount: Decimal) -> None:
        """Spend ``amount`` of the reserve currency: the reservation first, then free."""
        wallet = self.wallet(order.reserve_currency)
        from_reserve = min(order.reserved, amount)
        order.reserved -= from_reserve
        wallet.used -= from_reserve
        wallet.free -= amount - from_reserve

    # ------------------------------------------------------------------ spot
    def spot_cost(self, order: Order, qty: Decimal, price: Decimal, fee_rate: Decimal) -> Decimal:
        """What a spot fill takes from the reserve currency."""
        if order.side == "buy":
            return qty * price * (ONE + fee_rate)
        return qty

    def settle_spot(self, order: Order, fill: Fill) -> None:
        """Book a spot fill: pay the reserve currency, receive the other side."""
        spec = order.market.spec
        if order.side == "buy":
            self.pay(order, fill.cost + fill.fee)
            self.wallet(spec.base).free += fill.amount
        else:
            self.pay(order, fill.amount)
            self.wallet(spec.quote).free += fill.cost - fill.fee

    # ------------------------------------------------------------------ swaps
    def position(self, symbol: str, leverage: int) -> Position:
        """The position in ``symbol`` (created flat with ``leverage`` on first use)."""
        found = self.positions.get(symbol)
        if found is None:
            found = self.positions[symbol] = Position(symbol=symbol, leverage=leverage)
        return found

    @staticmethod
    def closable(pos: Position | None, side: str) -> Decimal:
        """How much of a ``side`` order would close (rather than open) the position."""
        if pos is None or not pos.contracts:
            return ZERO
        if (pos.contracts > 0) == (side == "sell"):
            return abs(pos.contracts)
        return ZERO

    def swap_cost(
        self, pos: Position, side: str, qty: Decimal, price: Decimal, fee_rate: Decimal
    ) -> Decimal:
        """What a swap fill takes from the settle currency: opening margin plus fee."""
        opening = qty - min(qty, self.closable(pos, side))
        return opening * price / pos.leverage + qty * price * fee_rate

    def settle_swap(self, order: Order, pos: Position, fill: Fill) -> None:
        """Book a swap fill: close what is opposite, open the rest, pay the fee."""
        wallet = self.wallet(order.reserve_currency)
        qty, price = fill.amount, fill.price
        closing = min(qty, self.closable(pos, fill.side))
        if closing:
            size = abs(pos.contracts)
            released = pos.collateral * closing / size
            direction = 1 if pos.contracts > 0 else -1
            pnl = max(closing * (price - pos.entry_price) * direction, -released)
            pos.collateral -= released
            pos.realized_pnl += pnl
            pos.contracts -= direction * closing
            wallet.used -= released
            wallet.free += released + pnl
            if not pos.contracts:
                pos.entry_price = ZERO
                wallet.used -= pos.collateral
                wallet.free += pos.collateral
                pos.collateral = ZERO
        opening = qty - closing
        if opening:
            margin = opening * price / pos.leverage
            self.pay(order, margin)
            wallet.used += margin
            size = abs(pos.contracts)
            pos.entry_price = (size * pos.entry_price + opening * price) / (size + opening)
            pos.collateral += margin
            pos.contracts += opening if fill.side == "buy" else -opening
        self.pay(order, fill.fee)
        pos.ts_ms = fill.ts_ms

    def liquidate(self, pos: Position, settle: str, ts_ms: int) -> Decimal:
        """Close ``pos``, losing its whole collateral; returns the signed contracts closed."""
        wallet = self.wallet(settle)
        wallet.used -= pos.collateral
        pos.realized_pnl -= pos.collateral
        closed = pos.contracts
        pos.contracts = pos.entry_price = pos.collateral = ZERO
        pos.ts_ms = ts_ms
        return closed


def liquidation_price(pos: Position, mmr: Decimal) -> Decimal | None:
    """Isolated linear liquidation price: equity = maintenance margin (docs/paper-exchange.md).

    long: entry * (1 - 1/lev) / (1 - mmr);  short: entry * (1 + 1/lev) / (1 + mmr)
    """
    if not pos.contracts:
        return None
    inverse_lev = Decimal(1) / pos.leverage
    if pos.contracts > 0:
        return pos.entry_price * (1 - inverse_lev) / (1 - mmr)
    return pos.entry_price * (1 + inverse_lev) / (1 + mmr)


def liquidation_order(
    market: PaperMarket, contracts: Decimal, price: Decimal, ts_ms: int, order_id: str, fill_id: str
) -> Order:
    """The closed reduce-only market order, with its one fee-less fill, that records the
    liquidation of ``contracts`` (signed) at ``price``."""
    side: Side = "sell" if contracts > 0 else "buy"
    qty = abs(contracts)
    quote = market.spec.quote
    order = Order(
        id=order_id,
        client_id=None,
        market=market,
        type="market",
        side=side,
        amount=qty,
        price=None,
        tif="IOC",
        reduce_only=True,
        ts_ms=ts_ms,
        arrival_ts_ms=ts_ms,
        reserve_currency=quote,
        status="closed",
        arrived=True,
        filled=qty,
        cost=qty * price,
        last_trade_ts_ms=ts_ms,
        last_update_ts_ms=ts_ms,
        reason="liquidation",
    )
    fill = Fill(
        fill_id, order_id, market.symbol, side, "taker", price, qty, qty * price, ZERO, quote, ts_ms
    )
    order.fills.append(fill)
    return order

"""Mutable records of the paper exchange: orders, fills, wallets and positions (Decimal money).

These are the engine's own bookkeeping, not a public API: ``_structures`` turns them into ccxt's
unified dicts. Every amount and price is a ``Decimal`` so a test can compare balances exactly
with the figures computed by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Literal

from omegafarm.exchange.paper._source import MarketSpec

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit"]
OrderStatus = Literal["open", "closed", "canceled", "rejected"]
TimeInForce = Literal["GTC", "IOC", "FOK", "PO"]
ZERO = Decimal(0)
ONE = Decimal(1)  # 1 + x with it is 1 + x with an int, without converting the int each time


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    """Largest multiple of ``step`` not above ``value`` (ccxt TRUNCATE for amounts)."""
    return (value / step).to_integral_value(ROUND_FLOOR) * step


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    """Smallest multiple of ``step`` not below ``value``."""
    return (value / step).to_integral_value(ROUND_CEILING) * step


def round_to(value: Decimal, step: Decimal) -> Decimal:
    """Nearest multiple of ``step``, halves away from zero (ccxt ROUND for prices)."""
    return (value / step).to_integral_value(ROUND_HALF_UP) * step


# Recent conversions by value: a bar's open is usually the last close an order was priced
# at, and order sizes repeat (a repr and a parse cost twenty dict look-ups). Zeros are not
# kept (0.0 and -0.0 are one key but two Decimals), nor NaN (never equal to itself).
_DEC_MEMO: dict[float, Decimal] = {}
_DEC_MEMO_SIZE = 4096


def dec(value: float) -> Decimal:
    """A float as the Decimal of its shortest repr (``0.1`` → ``Decimal('0.1')``)."""
    x = float(value)
    found = _DEC_MEMO.get(x)
    if found is None:
        found = Decimal(repr(x))
        if x and x == x:
            if len(_DEC_MEMO) >= _DEC_MEMO_SIZE:
                _DEC_MEMO.clear()
            _DEC_MEMO[x] = found
    return found


@dataclass(frozen=True, slots=True)
class PaperMarket:
    """One tradable market: a spot pair or its linear perpetual, both priced by one series."""

    symbol: str
    market_id: str
    spec: MarketSpec
    swap: bool

    @property
    def source_symbol(self) -> str:
        return self.spec.symbol


@dataclass(slots=True)
class Fill:
    """One execution of an order (ccxt calls it a trade)."""

    id: str
    order_id: str
    symbol: str
    side: Side
    taker_or_maker: Literal["taker", "maker"]
    price: Decimal
    amount: Decimal
    cost: Decimal
    fee: Decimal
    fee_currency: str
    ts_ms: int


@dataclass(slots=True, eq=False)  # an order is equal only to itself
class Order:
    """An order and everything that happened to it."""

    id: str
    client_id: str | None
    market: PaperMarket
    type: OrderType
    side: Side
    amount: Decimal
    price: Decimal | None
    tif: TimeInForce
    reduce_only: bool
    ts_ms: int
    arrival_ts_ms: int
    reserve_currency: str
    reserved: Decimal = ZERO
    status: OrderStatus = "open"
    arrived: bool = False
    filled: Decimal = ZERO
    cost: Decimal = ZERO
    fee: Decimal = ZERO
    last_trade_ts_ms: int | None = None
    last_update_ts_ms: int | None = None
    reason: str | None = None
    fills: list[Fill] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled

    @property
    def post_only(self) -> bool:
        return self.tif == "PO"


@dataclass(slots=True)
class Wallet:
    """Free and used (reserved for orders, or margin of positions) amounts of one currency."""

    free: Decimal = ZERO
    used: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.free + self.used


@dataclass(slots=True)
class Position:
    """A one-way, isolated-margin position in a linear perpetual (signed contracts)."""

    symbol: str
    leverage: int
    contracts: Decimal = ZERO
    entry_price: Decimal = ZERO
    collateral: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    ts_ms: int = 0

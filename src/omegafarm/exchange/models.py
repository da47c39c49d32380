"""Normalized exchange data: one meaning per field for every exchange.

Prices, amounts, costs and fees are ``Decimal`` (money is never a float here); timestamps are
integer milliseconds since the epoch (``*_ms``); every model keeps the exchange's raw payload
in ``info`` so nothing is lost. Precision is always a step (tick size): ``amount_step =
Decimal("0.001")`` means amounts are multiples of 0.001, whatever convention the exchange uses.

Candles are not objects but one numpy ``float64`` array of shape ``(n, 6)`` with the columns of
:data:`OHLCV_COLUMNS`, because analysis works on columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

OHLCV_COLUMNS = ("timestamp_ms", "open", "high", "low", "close", "volume")

Side = Literal["buy", "sell"]
Info = Mapping[str, Any]


@dataclass(frozen=True)
class Fee:
    """A fee paid (``cost`` in ``currency``) and, when known, its ``rate``."""

    currency: str | None
    cost: Decimal | None
    rate: Decimal | None = None


@dataclass(frozen=True)
class Market:
    """A tradable instrument and its trading rules."""

    symbol: str
    id: str
    base: str
    quote: str
    settle: str | None
    type: str
    spot: bool
    contract: bool
    linear: bool | None
    inverse: bool | None
    active: bool | None
    contract_size: Decimal | None
    amount_step: Decimal | None
    price_step: Decimal | None
    min_amount: Decimal | None
    max_amount: Decimal | None
    min_price: Decimal | None
    max_price: Decimal | None
    min_cost: Decimal | None
    max_cost: Decimal | None
    maker_fee: Decimal | None
    taker_fee: Decimal | None
    info: Info = field(default_factory=dict, repr=False, compare=True)


# The number fields of a Ticker, in the order ``normalize.ticker`` keeps them pending: a tuple of
# finite floats (or None) in the ticker's ``__dict__`` under PENDING_FLOATS, until each is read.
TICKER_NUMBERS = (
    "bid",
    "bid_volume",
    "ask",
    "ask_volume",
    "last",
    "open",
    "high",
    "low",
    "close",
    "vwap",
    "change",
    "percentage",
    "base_volume",
    "quote_volume",
)
PENDING_FLOATS = "_pending_floats"
_PENDING_INDEX = {name: index for index, name in enumerate(TICKER_NUMBERS)}


@dataclass(frozen=True)
class Ticker:
    """The latest 24 h statistics and top of book of one market.

    A ticker made by :func:`omegafarm.exchange.normalize.ticker` converts each finite float
    ccxt handed over to a ``Decimal`` when that field is first read (``Decimal(repr(x))``, what
    the eager conversion gave; a field read twice converts once): tickers are polled all the
    time and a bot reads one or two of their fourteen numbers. Malformed values still fail when
    the ticker is made. Equality, ``repr``, ``asdict``, copies and pickles read the fields, so
    they see the Decimals.
    """

    symbol: str
    timestamp_ms: int | None
    bid: Decimal | None
    bid_volume: Decimal | None
    ask: Decimal | None
    ask_volume: Decimal | None
    last: Decimal | None
    open: Decimal | None
    high: Decimal | None
    low: Decimal | None
    close: Decimal | None
    vwap: Decimal | None
    change: Decimal | None
    percentage: Decimal | None
    base_volume: Decimal | None
    quote_volume: Decimal | None
    info: Info = field(default_factory=dict, repr=False)

    if not TYPE_CHECKING:  # hidden from mypy, which keeps checking attribute names

        def __getattr__(self, name: str) -> Any:
            # Reached only for a name missing from __dict__: a number still pending as a float.
            values = object.__getattribute__(self, "__dict__")
            pending = values.get(PENDING_FLOATS)
            index = _PENDING_INDEX.get(name)
            if pending is None or index is None:
                raise AttributeError(f"'Ticker' object has no attribute {name!r}")
            found = pending[index]  # a finite float, or None
            number = values[name] = None if found is None else Decimal(repr(found))
            return number


@dataclass(frozen=True)
class AssetBalance:
    """How much of one currency is free, reserved (``used``) and in total."""

    currency: str
    free: Decimal | None
    used: Decimal | None
    total: Decimal | None


@dataclass(frozen=True)
class Balance:
    """An account's balances by currency code."""

    assets: Mapping[str, AssetBalance]
    timestamp_ms: int | None
    info: Info = field(default_factory=dict, repr=False)

    def free(self, currency: str) -> Decimal:
        """Free amount of ``currency`` (zero when the account holds none)."""
        asset = self.assets.get(currency)
        return asset.free if asset is not None and asset.free is not None else Decimal(0)


@dataclass(frozen=True)
class Position:
    """An open derivatives position."""

    symbol: str
    side: str | None
    contracts: Decimal | None
    contract_size: Decimal | None
    entry_price: Decimal | None
    mark_price: Decimal | None
    notional: Decimal | None
    leverage: Decimal | None
    unrealized_pnl: Decimal | None
    realized_pnl: Decimal | None
    liquidation_price: Decimal | None
    margin_mode: str | None
    collateral: Decimal | None
    initial_margin: Decimal | None
    maintenance_margin: Decimal | None
    timestamp_ms: int | None
    info: Info = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Trade:
    """One fill: public (``fetch_trades``) or the account's own (``fetch_my_trades``)."""

    id: str | None
    order_id: str | None
    symbol: str
    side: Side | None
    type: str | None
    taker_or_maker: str | None
    price: Decimal | None
    amount: Decimal | None
    cost: Decimal | None
    fee: Fee | None
    timestamp_ms: int | None
    info: Info = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Order:
    """An order as the exchange reports it."""

    id: str
    client_order_id: str | None
    symbol: str
    type: str | None
    side: Side | None
    status: str | None
    price: Decimal | None
    average: Decimal | None
    amount: Decimal | None
    filled: Decimal | None
    remaining: Decimal | None
    cost: Decimal | None
    fee: Fee | None
    time_in_force: str | None
    post_only: bool | None
    reduce_only: bool | None
    trigger_price: Decimal | None
    timestamp_ms: int | None
    last_trade_timestamp_ms: int | None
    trades: tuple[Trade, ...] = ()
    info: Info = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class OrderBook:
    """Bids (best first, descending) and asks (best first, ascending) as (price, amount)."""

    symbol: str
    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]
    timestamp_ms: int | None
    nonce: int | None

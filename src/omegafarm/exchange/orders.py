"""Placing orders exactly once: local checks, a client order id, and lookup before any retry.

1. The amount is truncated and the price rounded to the market's step; the market's limits
   (min/max amount, price and cost) are checked. A violation raises ``InvalidOrderError``
   naming the limit, and no request is sent.
2. A client order id is fixed before the first attempt and sent with every attempt
   (``params['clientOrderId']``; ccxt maps it to the exchange's own field, e.g. Binance
   ``newClientOrderId``, Kraken ``cl_ord_id``, Coinbase ``client_order_id``).
3. When an attempt fails in a way that may hide an executed request (timeout, lost connection,
   5xx), the exchange is asked whether an order with that client id exists (open orders, then
   closed or all orders since shortly before the first attempt). Found → that order is the
   result. Not found → the create is retried with the same id. The lookup itself failing → an
   ``OrderStateUnknownError``: we would rather tell the caller than risk a double.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Any

from omegafarm.exchange.errors import (
    DuplicateOrderIdError,
    ExchangeCallError,
    ExchangeNetworkError,
    InvalidOrderError,
    OrderStateUnknownError,
    RateLimitedError,
    is_order_maybe_executed,
    where,
)
from omegafarm.exchange.models import Market, Order

LOOKBACK_MS = 120_000


def new_client_order_id() -> str:
    """A fresh client order id: 32 hex characters, accepted by Binance, Kraken and Coinbase."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class PreparedOrder:
    """An order after rounding, ready to send."""

    symbol: str
    type: str
    side: str
    amount: Decimal
    price: Decimal | None
    client_order_id: str
    params: Mapping[str, Any]


def fmt(value: Decimal | None) -> str:
    """A Decimal in plain notation without trailing zeros (``1E+4`` → ``10000``)."""
    if value is None:
        return "none"
    return format(value.normalize(), "f")


def _round(value: Decimal, step: Decimal | None, rounding: str) -> Decimal:
    if step is None or step <= 0:
        return value
    return (value / step).to_integral_value(rounding=rounding) * step


def prepare_order(
    exchange: str,
    market: Market,
    order_type: str,
    side: str,
    amount: Decimal,
    price: Decimal | None,
    params: Mapping[str, Any] | None,
) -> PreparedOrder:
    """Round to the market's steps, check its limits, and fix the client order id."""
    symbol = market.symbol
    here = where(exchange, "create_order", symbol)

    def invalid(reason: str) -> InvalidOrderError:
        return InvalidOrderError(
            f"{here}: invalid order: {reason}; no request was sent",
            exchange=exchange,
            method="create_order",
            symbol=symbol,
        )

    if side not in ("buy", "sell"):
        raise invalid(f"side must be buy or sell, got {side!r}")
    if amount <= 0:
        raise invalid(f"amount must be positive, got {fmt(amount)}")
    rounded = _round(amount, market.amount_step, ROUND_DOWN).normalize()
    if rounded <= 0:
        raise invalid(
            f"amount {fmt(amount)} rounds to 0 at the amount step {fmt(market.amount_step)}"
        )
    rounded_price = None
    if price is not None:
        if price <= 0:
            raise invalid(f"price must be positive, got {fmt(price)}")
        rounded_price = _round(price, market.price_step, ROUND_HALF_EVEN).normalize()
        if rounded_price <= 0:
            raise invalid(
                f"price {fmt(price)} rounds to 0 at the price step {fmt(market.price_step)}"
            )
    elif order_type == "limit":
        raise invalid("a limit order needs a price")
    _check_limits(market, rounded, rounded_price, invalid)
    extra = dict(params or {})
    client_id = str(extra.pop("clientOrderId", "") or new_client_order_id())
    return PreparedOrder(symbol, order_type, side, rounded, rounded_price, client_id, extra)


def _check_limits(
    market: Market,
    amount: Decimal,
    price: Decimal | None,
    invalid: Callable[[str], InvalidOrderError],
) -> None:
    checks = [
        (market.min_amount, amount, "below", "limits.amount.min", "amount"),
        (market.max_amount, amount, "above", "limits.amount.max", "amount"),
    ]
    if price is not None:
        checks += [
            (market.min_price, price, "below", "limits.price.min", "price"),
            (market.max_price, price, "above", "limits.price.max", "price"),
        ]
        if not market.inverse:
            cost = amount * price * (market.contract_size or Decimal(1))
            checks += [
                (market.min_cost, cost, "below", "limits.cost.min", "cost"),
                (market.max_cost, cost, "above", "limits.cost.max", "cost"),
            ]
    for bound, value, direction, name, what in checks:
        if bound is None or bound == 0:
            continue
        if (direction == "below" and value < bound) or (direction == "above" and value > bound):
            raise invalid(f"{what} {fmt(value)} is {direction} the market's {name} = {fmt(bound)}")


CreateFn = Callable[[PreparedOrder], Awaitable[Order]]
LookupFn = Callable[[PreparedOrder, int], Awaitable[Order | None]]
ErrorFn = Callable[[BaseException, str, int], ExchangeCallError]
SleepFn = Callable[[int, ExchangeCallError], Awaitable[None]]


@dataclass(frozen=True)
class OrderPolicy:
    """How often to try a create and a lookup."""

    max_attempts: int = 3
    lookup_attempts: int = 3


async def place_once(
    order: PreparedOrder,
    *,
    create: CreateFn,
    lookup: LookupFn,
    translate: ErrorFn,
    backoff: SleepFn,
    now_ms: Callable[[], int],
    policy: OrderPolicy,
) -> Order:
    """Send ``order`` until it is placed, never twice (see the module docstring)."""
    since_ms = now_ms() - LOOKBACK_MS
    last: ExchangeCallError | None = None
    for attempt in range(1, policy.max_attempts + 1):
        try:
            return await create(order)
        except Exception as exc:
            error = translate(exc, "create_order", attempt)
            last = error
            if isinstance(error, DuplicateOrderIdError) or is_order_maybe_executed(error):
                found = await _lookup(order, since_ms, lookup, translate, backoff, policy, error)
                if found is not None:
                    return found
                if isinstance(error, DuplicateOrderIdError):
                    raise error from exc
            elif not isinstance(error, RateLimitedError):
                raise error from exc
        if attempt < policy.max_attempts:
            await backoff(attempt, last)
    assert last is not None  # the loop ran at least once and ended in an error
    raise last


async def _lookup(
    order: PreparedOrder,
    since_ms: int,
    lookup: LookupFn,
    translate: ErrorFn,
    backoff: SleepFn,
    policy: OrderPolicy,
    cause: ExchangeCallError,
) -> Order | None:
    for attempt in range(1, policy.lookup_attempts + 1):
        await backoff(attempt, cause)
        try:
            return await lookup(order, since_ms)
        except Exception as exc:
            error = translate(exc, "find_order_by_client_id", attempt)
            if not isinstance(error, ExchangeNetworkError):
                break
    raise OrderStateUnknownError(
        f"{where(cause.exchange, 'create_order', order.symbol)}: the order with client id "
        f"{order.client_order_id} may have been placed ({cause}); the exchange could not be "
        "asked, so it was not sent again. Check open orders before retrying.",
        exchange=cause.exchange,
        method="create_order",
        symbol=order.symbol,
    ) from cause

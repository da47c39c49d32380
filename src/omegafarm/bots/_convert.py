"""Exchange models → bot events: one conversion for the backtest and for live bots."""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from decimal import Decimal
from typing import Any, TypeVar

from omegafarm.bots.ledger import ZERO, OrderUpdate
from omegafarm.exchange.models import Order

T = TypeVar("T")
_STATUS = {"open": "open", "closed": "closed", "canceled": "canceled", "cancelled": "canceled"}


def update_from_order(order: Order, client_order_id: str | None = None) -> OrderUpdate:
    """Our snapshot of an exchange order (missing amounts count as zero)."""
    cid = order.client_order_id or client_order_id
    if cid is None:
        raise ValueError(f"order {order.id} has no client order id")
    fee = order.fee
    reason = order.info.get("reason") if isinstance(order.info, dict) else None
    return OrderUpdate(
        client_order_id=cid,
        order_id=order.id,
        symbol=order.symbol,
        side="sell" if order.side == "sell" else "buy",
        type=order.type or "market",
        status=_STATUS.get(order.status or "open", order.status or "open"),
        amount=order.amount or ZERO,
        filled=order.filled or ZERO,
        cost=order.cost or ZERO,
        fee=(fee.cost if fee is not None and fee.cost is not None else ZERO),
        fee_currency=fee.currency if fee is not None else None,
        price=order.price,
        ts_ms=order.last_trade_timestamp_ms or order.timestamp_ms or 0,
        reason=str(reason) if reason else None,
    )


def update_from_ccxt(raw: Mapping[str, Any]) -> OrderUpdate:
    """Our snapshot straight from a ccxt unified order dict (the backtest's fast path)."""
    fee = raw.get("fee") or {}
    info = raw.get("info") or {}
    price = raw.get("price")
    status = str(raw.get("status") or "open")
    return OrderUpdate(
        client_order_id=str(raw["clientOrderId"]),
        order_id=str(raw["id"]),
        symbol=str(raw["symbol"]),
        side="sell" if raw.get("side") == "sell" else "buy",
        type=str(raw.get("type") or "market"),
        status=_STATUS.get(status, status),
        amount=_d(raw.get("amount")),
        filled=_d(raw.get("filled")),
        cost=_d(raw.get("cost")),
        fee=_d(fee.get("cost")),
        fee_currency=fee.get("currency"),
        price=None if price is None else _d(price),
        ts_ms=int(raw.get("lastTradeTimestamp") or raw.get("timestamp") or 0),
        reason=info.get("reason") if isinstance(info, Mapping) else None,
    )


def _d(value: object) -> Decimal:
    if value is None:
        return ZERO
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))


def rejected(update: OrderUpdate, reason: str) -> OrderUpdate:
    """The pending ``update`` marked as rejected by the exchange."""
    return OrderUpdate(
        update.client_order_id, None, update.symbol, update.side, update.type, "rejected",
        update.amount, ZERO, ZERO, ZERO, None, update.price, update.ts_ms, reason,
    )  # fmt: skip


def run_now(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (the paper exchange's methods) without a loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]  # StopIteration.value is Any
    coro.close()
    raise RuntimeError("the paper exchange suspended inside a backtest call")


def dec(value: float | str | Decimal) -> Decimal:
    """A Decimal from a float's shortest repr."""
    return value if isinstance(value, Decimal) else Decimal(repr(float(value)))

"""Exchange models → bot events: one conversion for the backtest and for live bots."""

from __future__ import annotations

from decimal import Decimal

from omegafarm.bots.ledger import ZERO, OrderUpdate
from omegafarm.exchange.models import Order
from omegafarm.exchange.paper._models import q as _q
from omegafarm.exchange.paper._state import Order as PaperOrder

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


def update_from_paper(order: PaperOrder) -> OrderUpdate:
    """``update_from_order(order_model(order))`` in one step, for the backtest's hot path: the
    same update, every number seen through a float exactly as the typed model reports it
    (``_q``), without building the model, its trades and its info (a test compares
    the two on every order of a run)."""
    filled, amount = order.filled, order.amount
    amount_q = _q(amount) or ZERO
    if filled:
        average: Decimal | None = _q(order.cost / filled)
        price = average if order.price is None else _q(order.price)
        # _q depends on the value only: a filled order's amount is not converted twice
        filled_q = amount_q if filled == amount else _q(filled) or ZERO
        cost_q = _q(order.cost) or ZERO
    else:  # nothing filled: filled and cost are zeros, and a zero seen through a float is 0
        price = None if order.price is None else _q(order.price)
        filled_q = ZERO
        cost_q = _q(order.cost) or ZERO if order.cost else ZERO
    status = order.status
    return OrderUpdate(
        order.client_id or _no_client_id(order.id),
        order.id,
        order.market.symbol,
        "sell" if order.side == "sell" else "buy",
        order.type,
        _STATUS.get(status, status),
        amount_q,
        filled_q,
        cost_q,
        _q(order.fee),
        order.market.spec.quote,
        price,
        order.last_trade_ts_ms or order.ts_ms or 0,
        str(order.reason) if order.reason else None,
    )


def _no_client_id(order_id: str) -> str:
    raise ValueError(f"order {order_id} has no client order id")


def rejected(update: OrderUpdate, reason: str) -> OrderUpdate:
    """The pending ``update`` marked as rejected by the exchange."""
    return OrderUpdate(
        update.client_order_id, None, update.symbol, update.side, update.type, "rejected",
        update.amount, ZERO, ZERO, ZERO, None, update.price, update.ts_ms, reason,
    )  # fmt: skip


def dec(value: float | str | Decimal) -> Decimal:
    """A Decimal from a float's shortest repr."""
    return value if isinstance(value, Decimal) else Decimal(repr(float(value)))

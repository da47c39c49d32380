"""The paper engine's records as our typed models, without going through ccxt's dicts.

The paper exchange's ccxt face reports numbers as floats (as ccxt does), so every number here is
the engine's Decimal seen through a float (:func:`q`): the typed face and the ccxt face of the
same order say exactly the same thing, and a backtest gives the same report through either.
"""

from __future__ import annotations

from decimal import Decimal

from omegafarm.exchange.models import AssetBalance, Balance, Fee, Order, Trade
from omegafarm.exchange.paper._state import Fill, Wallet
from omegafarm.exchange.paper._state import Order as PaperOrder

_ZERO_FEE_RATE = None


_ZERO_Q = Decimal(repr(0.0))  # what a zero is seen as through a float: Decimal('0.0')
_MINUS_ZERO_Q = Decimal(repr(-0.0))


# The last conversions by the identity of the Decimal converted (kept in the value, so its id
# cannot be reused while the entry lives): an order's amount and limit price are converted at
# every report of it (when placed, on each poll, when filled), and these objects never change.
# Identity, not value: hashing a new Decimal costs a third of converting it.
_Q_SEEN: dict[int, tuple[Decimal, Decimal]] = {}
_Q_SEEN_SIZE = 256


def q(value: Decimal) -> Decimal:
    """``value`` as the float ccxt would report, back as a Decimal (its shortest repr)."""
    if not value:  # a zero of any exponent: the same two answers every time
        return _MINUS_ZERO_Q if value.is_signed() else _ZERO_Q
    key = id(value)
    found = _Q_SEEN.get(key)
    if found is not None and found[0] is value:
        return found[1]
    out = Decimal(repr(float(value)))
    if len(_Q_SEEN) >= _Q_SEEN_SIZE:
        _Q_SEEN.clear()
    _Q_SEEN[key] = (value, out)
    return out


def trade_model(fill: Fill, order_type: str) -> Trade:
    """One fill as a :class:`Trade`."""
    return Trade(
        id=fill.id,
        order_id=fill.order_id,
        symbol=fill.symbol,
        side=fill.side,
        type=order_type,
        taker_or_maker=fill.taker_or_maker,
        price=q(fill.price),
        amount=q(fill.amount),
        cost=q(fill.cost),
        fee=Fee(fill.fee_currency, q(fill.fee), _ZERO_FEE_RATE),
        timestamp_ms=fill.ts_ms,
        info={
            "price": str(fill.price),
            "amount": str(fill.amount),
            "cost": str(fill.cost),
            "fee": str(fill.fee),
        },
    )


def order_model(order: PaperOrder) -> Order:
    """One engine order (with its fills) as an :class:`Order`."""
    filled, market, kind = order.filled, order.market, order.type
    average = order.cost / filled if filled else None
    price = order.price if order.price is not None else average
    return Order(
        id=order.id,
        client_order_id=order.client_id,
        symbol=market.symbol,
        type=kind,
        side=order.side,
        status=order.status,
        price=None if price is None else q(price),
        average=None if average is None else q(average),
        amount=q(order.amount),
        filled=q(filled),
        remaining=q(order.amount - filled),
        cost=q(order.cost),
        fee=Fee(market.spec.quote, q(order.fee), _ZERO_FEE_RATE),
        time_in_force=None if kind == "market" else order.tif,
        post_only=order.tif == "PO",
        reduce_only=order.reduce_only,
        trigger_price=None,
        timestamp_ms=order.ts_ms,
        last_trade_timestamp_ms=order.last_trade_ts_ms,
        trades=tuple(trade_model(f, kind) for f in order.fills),
        info={
            "status": order.status,
            "reason": order.reason,
            "arrivalTimestamp": order.arrival_ts_ms,
            "reserved": str(order.reserved),
            "reserveCurrency": order.reserve_currency,
        },
    )


def balance_model(wallets: dict[str, Wallet], now_ms: int) -> Balance:
    """Every wallet as a :class:`Balance`."""
    assets = {
        currency: AssetBalance(currency, q(w.free), q(w.used), q(w.total))
        for currency, w in sorted(wallets.items())
    }
    info = {c: {"free": str(w.free), "used": str(w.used)} for c, w in sorted(wallets.items())}
    return Balance(assets=assets, timestamp_ms=now_ms, info=info)

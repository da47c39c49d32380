"""Order entry through the call pipeline: create exactly once, cancel with a lost-attempt check.

:class:`~omegafarm.exchange.service.ExchangeService` keeps the public ``create_order`` and
``cancel_order``; what they do with the venue lives here, next to the pipeline they run on:

* create: amounts and prices become Decimals, the order is rounded and checked against the
  market (``orders.prepare_order``), spends the account's order budget when the venue limits
  orders, and is sent by ``orders.place_once`` (idempotent client id; a lost attempt is looked
  up, never sent twice). Counted and timed as one ``create_order`` call, attempts included.
* cancel: retried like a read (a second cancel cannot double anything); when an attempt was
  lost but went through, the retry finds no order: the order is fetched instead of raising.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from omegafarm.exchange import normalize as nz
from omegafarm.exchange.errors import OrderNotFoundError
from omegafarm.exchange.models import Market, Order
from omegafarm.exchange.orders import OrderPolicy, PreparedOrder, place_once, prepare_order
from omegafarm.exchange.pipeline import CallPipeline
from omegafarm.exchange.ratelimit import RateLimiter, order_bucket

Number = Decimal | float | str


async def create_order(
    pipe: CallPipeline,
    market: Market,
    type: str,
    side: str,
    amount: Number,
    price: Number | None,
    params: dict[str, Any] | None,
    *,
    limiter: RateLimiter | None,
    record: Callable[[str, float], None],
) -> tuple[PreparedOrder, Order]:
    """The order as prepared (its client id) and as the venue placed it."""
    s = pipe.settings
    exchange_id, symbol = s.exchange_id, market.symbol
    ctx = nz.Ctx(exchange_id, "create_order")
    amount_d = nz.to_decimal(amount, ctx.at("amount"))
    price_d = nz.to_decimal(price, ctx.at("price"))
    if amount_d is None:
        raise pipe.translate(ValueError("amount is required"), "create_order", symbol)
    order = prepare_order(exchange_id, market, type, side, amount_d, price_d, params)
    venue = pipe.venue
    bucket = order_bucket(exchange_id, s.account)

    async def send(prepared: PreparedOrder) -> Order:
        if limiter is not None and venue.limits_orders:
            await limiter.acquire(bucket, 1.0)
        return await venue.create_order(prepared)

    start = time.perf_counter()
    try:
        placed = await place_once(
            order,
            create=send,
            lookup=venue.find_by_client_id,
            translate=lambda exc, method, _attempt: pipe.translate(exc, method, symbol),
            backoff=pipe.backoff,
            now_ms=lambda: int(time.time() * 1000),
            policy=OrderPolicy(s.max_order_attempts, s.order_lookup_attempts),
        )
    finally:
        record("create_order", time.perf_counter() - start)
    return order, placed


async def cancel_order(
    pipe: CallPipeline,
    id: str,
    symbol: str | None,
    params: dict[str, Any],
    *,
    fetch_order: Callable[[], Awaitable[Order]],
) -> Order:
    """Cancel through the pipeline; a lost-but-done attempt returns the fetched order."""
    attempts = 0

    async def cancel() -> Order:
        nonlocal attempts
        attempts += 1
        return await pipe.venue.cancel_order(id, symbol, params)

    try:
        return await pipe.call("cancel_order", symbol, cancel)
    except OrderNotFoundError:
        if attempts < 2:
            raise
        return await fetch_order()

"""Exchange routes: markets, tickers, candles, balance, positions and orders.

Order actions call the Exchange Service inside a span, below the request's span (see
``api.tracing``), so the trace reads API -> Exchange Service -> ccxt request.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from omegafarm.api._fast import ticker_key, ticker_loader
from omegafarm.api._local import LocalCache
from omegafarm.api._render import jsonable, service
from omegafarm.api.auth import TRADER, VIEWER, security_service
from omegafarm.api.routes._params import SYMBOL_PATTERN, CandleLimit, Symbol, Timeframe
from omegafarm.core.errors import OmegaError
from omegafarm.core.tracing import start_span
from omegafarm.exchange import OHLCV_COLUMNS, ExchangeService
from omegafarm.security import Principal

router = APIRouter(prefix="/api/v1/exchange", tags=["exchange"])


class OrderRequest(BaseModel):
    """A new order: market or limit, amounts and prices as decimal strings or numbers."""

    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(pattern=SYMBOL_PATTERN)
    type: Literal["market", "limit"]
    side: Literal["buy", "sell"]
    amount: Decimal = Field(gt=0, max_digits=30, decimal_places=12, allow_inf_nan=False)
    price: Decimal | None = Field(
        default=None, gt=0, max_digits=30, decimal_places=12, allow_inf_nan=False
    )


def _span_attributes(exchange: ExchangeService) -> dict[str, str]:
    """What an order route's Exchange Service span says (the request span is its parent)."""
    return {"omega.exchange.id": exchange.exchange_id}


def _exchange(request: Request) -> ExchangeService:
    return service(request, "exchange", ExchangeService)


@router.get("/markets", dependencies=[Depends(VIEWER)], summary="Tradable markets")
async def markets(
    request: Request,
    quote: Annotated[str | None, Query(pattern=r"^[A-Z0-9]{1,20}$")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    found = await _exchange(request).fetch_markets(reload=False)
    chosen = [m for m in found.values() if quote is None or m.quote == quote]
    return [jsonable(m) for m in sorted(chosen, key=lambda m: m.symbol)[:limit]]


@router.get(
    "/ticker",
    dependencies=[Depends(VIEWER)],
    summary="One ticker",
    response_model=dict[str, Any],
)
async def ticker(request: Request, symbol: Symbol) -> Response:
    # The Exchange Service already shares tickers farm-wide (exchange.ticker_ttl_s); each API
    # process keeps a short local copy in front of it (api.ticker_local_ttl_s), as the JSON
    # bytes to send. Requests it can answer from memory never get here (see api._fast).
    exchange = _exchange(request)
    local: LocalCache = request.app.state.ticker_local_cache
    body: bytes = await local.get_or_load(
        ticker_key(exchange, symbol), ticker_loader(exchange, symbol)
    )
    return Response(body, media_type="application/json")


@router.get("/tickers", dependencies=[Depends(VIEWER)], summary="Tickers of several markets")
async def tickers(
    request: Request,
    symbols: Annotated[
        str | None, Query(pattern=r"^[A-Z0-9/:]{3,45}(,[A-Z0-9/:]{3,45}){0,49}$")
    ] = None,
) -> dict[str, Any]:
    wanted = symbols.split(",") if symbols else None
    found = await _exchange(request).fetch_tickers(wanted)
    data: dict[str, Any] = jsonable(found)
    return data


@router.get("/candles", dependencies=[Depends(VIEWER)], summary="Recent OHLCV candles")
async def candles(
    request: Request, symbol: Symbol, timeframe: Timeframe = "1h", limit: CandleLimit = 200
) -> dict[str, Any]:
    rows = await _exchange(request).fetch_ohlcv(symbol, timeframe, limit=limit)
    return {"columns": list(OHLCV_COLUMNS), "rows": jsonable(rows)}


@router.get("/balance", dependencies=[Depends(VIEWER)], summary="Account balances")
async def balance(request: Request) -> dict[str, Any]:
    data: dict[str, Any] = jsonable(await _exchange(request).fetch_balance())
    return data


@router.get("/positions", dependencies=[Depends(VIEWER)], summary="Open positions")
async def positions(request: Request) -> list[Any]:
    return [jsonable(p) for p in await _exchange(request).fetch_positions()]


@router.get("/orders", dependencies=[Depends(VIEWER)], summary="Orders, open and closed")
async def orders(
    request: Request,
    symbol: Annotated[str | None, Query(pattern=SYMBOL_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Any]:
    found = await _exchange(request).fetch_orders(symbol, limit=limit)
    return [jsonable(o) for o in found[-limit:]]


@router.post("/orders", status_code=201, summary="Place an order (trader)")
async def create_order(
    request: Request, body: OrderRequest, who: Annotated[Principal | None, Depends(TRADER)]
) -> dict[str, Any]:
    exchange = _exchange(request)
    audit = security_service(request).audit.append
    actor = who.user if who else "?"
    fields: dict[str, Any] = {
        "symbol": body.symbol,
        "side": body.side,
        "type": body.type,
        "amount": str(body.amount),
        "price": None if body.price is None else str(body.price),
    }
    try:
        with start_span("ExchangeService create_order", attributes=_span_attributes(exchange)):
            order = await exchange.create_order(
                body.symbol, body.type, body.side, body.amount, body.price
            )
    except OmegaError as exc:
        await audit(
            "order_create", actor=actor, outcome="failed", error=type(exc).__name__, **fields
        )
        raise
    await audit("order_create", actor=actor, order_id=order.id, **fields)
    data: dict[str, Any] = jsonable(order)
    return data


@router.delete("/orders/{order_id}", summary="Cancel an order (trader)")
async def cancel_order(
    request: Request,
    order_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,100}$")],
    symbol: Symbol,
    who: Annotated[Principal | None, Depends(TRADER)],
) -> dict[str, Any]:
    exchange = _exchange(request)
    audit = security_service(request).audit.append
    actor = who.user if who else "?"
    try:
        with start_span("ExchangeService cancel_order", attributes=_span_attributes(exchange)):
            order = await exchange.cancel_order(order_id, symbol)
    except OmegaError as exc:
        await audit(
            "order_cancel",
            actor=actor,
            outcome="failed",
            order_id=order_id,
            symbol=symbol,
            error=type(exc).__name__,
        )
        raise
    await audit("order_cancel", actor=actor, order_id=order_id, symbol=symbol)
    data: dict[str, Any] = jsonable(order)
    return data

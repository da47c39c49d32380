"""Analysis routes: Cosmic Factor analyses of a symbol's recent candles.

Candles come from the Exchange Service (``fetch_ohlcv``); the analysis from the Cosmic Factor
Service. The heavier analyses (surrogate tests) run in a worker thread so the event loop keeps
serving other requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, Depends, Request

from omegafarm.api._render import jsonable, service
from omegafarm.api.auth import VIEWER
from omegafarm.api.routes._params import CandleLimit, Symbol, Timeframe, timeframe_s
from omegafarm.cosmic.service import CosmicFactorService
from omegafarm.exchange import ExchangeService

router = APIRouter(prefix="/api/v1/analysis", tags=["analysis"], dependencies=[Depends(VIEWER)])


async def _run(
    request: Request,
    symbol: str,
    timeframe: str,
    limit: int,
    analyse: Callable[[CosmicFactorService, npt.NDArray[np.float64]], object],
) -> dict[str, Any]:
    cosmic = service(request, "cosmic", CosmicFactorService, what="cosmic factor service")
    exchange = service(request, "exchange", ExchangeService)
    candles = await exchange.fetch_ohlcv(symbol, timeframe, limit=limit)
    result = await asyncio.to_thread(analyse, cosmic, candles)
    return {
        "symbol": symbol,
        "timeframe": timeframe,
        "candles": int(candles.shape[0]),
        "last_ts_ms": int(candles[-1, 0]) if candles.shape[0] else None,
        "result": jsonable(result),
    }


@router.get("/fibonacci", summary="Fibonacci levels of the last swing and confluence zones")
async def fibonacci(
    request: Request, symbol: Symbol, timeframe: Timeframe = "1h", limit: CandleLimit = 300
) -> dict[str, Any]:
    return await _run(request, symbol, timeframe, limit, lambda c, x: c.fibonacci_confluence(x))


@router.get("/patterns", summary="Harmonic XABCD patterns, completed and forming")
async def patterns(
    request: Request, symbol: Symbol, timeframe: Timeframe = "1h", limit: CandleLimit = 300
) -> dict[str, Any]:
    return await _run(request, symbol, timeframe, limit, lambda c, x: c.identify_patterns(x))


@router.get("/cycles", summary="Dominant cycles with a red-noise test")
async def cycles(
    request: Request, symbol: Symbol, timeframe: Timeframe = "1h", limit: CandleLimit = 300
) -> dict[str, Any]:
    return await _run(request, symbol, timeframe, limit, lambda c, x: c.predict_cycles(x[:, 4]))


@router.get("/harmony", summary="Fibonacci clustering of swings vs random walks, Hurst, DFA")
async def harmony(
    request: Request, symbol: Symbol, timeframe: Timeframe = "1h", limit: CandleLimit = 300
) -> dict[str, Any]:
    return await _run(request, symbol, timeframe, limit, lambda c, x: c.calculate_harmony(x[:, 4]))


@router.get("/resonance", summary="Power at reference frequencies vs a noise background")
async def resonance(
    request: Request, symbol: Symbol, timeframe: Timeframe = "1h", limit: CandleLimit = 300
) -> dict[str, Any]:
    period_s = float(timeframe_s(timeframe))
    return await _run(
        request,
        symbol,
        timeframe,
        limit,
        lambda c, x: c.calculate_resonance(x[:, 4], period_s),
    )

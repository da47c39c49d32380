"""Validated query parameters shared by several routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

SYMBOL_PATTERN = r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}(:[A-Z0-9]{1,20})?$"
TIMEFRAME_PATTERN = r"^[1-9][0-9]{0,2}[smhdw]$"
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

Symbol = Annotated[str, Query(pattern=SYMBOL_PATTERN, description="Unified symbol, e.g. BTC/USDT.")]
Timeframe = Annotated[
    str, Query(pattern=TIMEFRAME_PATTERN, description="Candle length, e.g. 1m, 15m, 1h, 1d.")
]
CandleLimit = Annotated[int, Query(ge=20, le=1000, description="How many recent candles.")]


def timeframe_s(timeframe: str) -> int:
    """Seconds in a timeframe such as ``15m`` (already validated by the pattern)."""
    return int(timeframe[:-1]) * _UNIT_S[timeframe[-1]]

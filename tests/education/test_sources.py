"""One candle adapter for tutorials, over the paper exchange and the Exchange Service alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from omegafarm.education.sources import CandleSource, OhlcvCandles
from omegafarm.exchange import ExchangeService, ExchangeSettings
from omegafarm.exchange.paper import PaperExchange


async def _last_rows(source: CandleSource, symbol: str, timeframe: str) -> np.ndarray:
    return np.asarray(await source.fetch_candles(symbol, timeframe, 20), dtype=np.float64)


async def test_the_same_adapter_serves_the_paper_exchange_and_the_exchange_service(
    tmp_path: Path,
) -> None:
    paper = PaperExchange()
    try:
        symbol = next(iter(await paper.load_markets()))
        direct = await _last_rows(OhlcvCandles(paper), symbol, paper.timeframe)
    finally:
        await paper.close()
    settings = ExchangeSettings(ohlcv_cache_path=tmp_path / "c.sqlite3")
    async with ExchangeService(settings) as service:
        served = await _last_rows(OhlcvCandles(service), symbol, paper.timeframe)
    for rows in (direct, served):
        assert rows.shape == (20, 6)
        assert np.all(np.diff(rows[:, 0]) > 0)  # oldest first
        assert np.all(rows[:, 2] >= rows[:, 3])  # high >= low

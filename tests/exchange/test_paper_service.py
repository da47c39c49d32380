"""ExchangeService over the paper exchange: the same code path and models as a real exchange."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from omegafarm.exchange import ExchangeService
from omegafarm.exchange.config import ExchangeSettings
from omegafarm.exchange.errors import InsufficientFundsError, OrderNotFoundError
from omegafarm.exchange.paper import PaperExchange


@pytest.fixture
async def service(tmp_path: Path) -> ExchangeService:
    settings = ExchangeSettings(
        exchange_id="paper", ohlcv_cache_path=tmp_path / "ohlcv.sqlite", load_markets_on_start=False
    )
    svc = ExchangeService(settings, metrics_registry=CollectorRegistry())
    await svc.initialize()
    yield svc  # type: ignore[misc]  # an async generator fixture
    await svc.shutdown()


async def test_service_normalizes_paper_markets_tickers_and_candles(
    service: ExchangeService,
) -> None:
    markets = await service.fetch_markets()
    ticker = await service.fetch_ticker("BTC/USDT")
    candles = await service.fetch_ohlcv("ETH/USDT", "1m", limit=50)

    assert markets["BTC/USDT"].price_step == Decimal("0.01")
    assert markets["BTC/USDT:USDT"].contract_size == Decimal(1)
    assert ticker.bid is not None and ticker.ask is not None and ticker.bid < ticker.ask
    assert candles.shape == (50, 6)
    assert (candles[:, 2] >= candles[:, 3]).all()  # high >= low


async def test_service_places_fills_and_cancels_paper_orders(service: ExchangeService) -> None:
    paper = service.get_exchange_client()
    assert isinstance(paper, PaperExchange)

    bought = await service.create_order("BTC/USDT", "market", "buy", Decimal("0.01"))
    resting = await service.create_order("ETH/USDT", "limit", "buy", Decimal("1"), Decimal("1000"))
    paper.advance()
    filled = await service.fetch_order(bought.id, "BTC/USDT")
    canceled = await service.cancel_order(resting.id, "ETH/USDT")
    balance = await service.fetch_balance()

    assert bought.client_order_id is not None and filled.status == "closed"
    assert filled.filled == Decimal("0.01") and filled.fee.cost > 0
    assert canceled.status == "canceled"
    assert balance.assets["BTC"].free == Decimal("0.01")
    with pytest.raises(InsufficientFundsError):
        await service.create_order("BTC/USDT", "market", "buy", Decimal("100"))
    with pytest.raises(OrderNotFoundError):
        await service.cancel_order(resting.id, "ETH/USDT")

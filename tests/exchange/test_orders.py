"""Orders are rounded to the market's steps, checked against its limits and carry a client id."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from omegafarm.exchange import InvalidOrderError
from tests.exchange._binance import MiniBinance, btc_usdt_market
from tests.exchange._replay import replay_service

MARKETS = {"BTC/USDT": btc_usdt_market()}


async def test_amount_is_truncated_and_price_rounded_to_the_market_steps(tmp_path: Path) -> None:
    exchange = MiniBinance()
    async with (
        exchange.server,
        replay_service("binance", exchange.server, tmp_path, markets=MARKETS) as service,
    ):
        order = await service.create_order(
            "BTC/USDT", "limit", "buy", Decimal("0.123456789"), Decimal("43210.126")
        )
    (sent,) = [r for r in exchange.server.requests if r.method == "POST"]
    assert sent.param("quantity") == "0.12345"
    assert sent.param("price") == "43210.13"
    assert order.amount == Decimal("0.12345")
    assert order.client_order_id == sent.param("newClientOrderId")
    assert order.client_order_id is not None
    assert len(order.client_order_id) == 32


async def test_caller_chosen_client_order_id_is_sent(tmp_path: Path) -> None:
    exchange = MiniBinance()
    async with (
        exchange.server,
        replay_service("binance", exchange.server, tmp_path, markets=MARKETS) as service,
    ):
        order = await service.create_order(
            "BTC/USDT", "limit", "sell", "0.01", "50000", params={"clientOrderId": "bot7-0001"}
        )
    assert exchange.created_client_ids == ["bot7-0001"]
    assert order.client_order_id == "bot7-0001"


@pytest.mark.parametrize(
    ("amount", "price", "message"),
    [
        ("0.000001", "50000", "amount 0.000001 rounds to 0 at the amount step 0.00001"),
        ("0.0001", "100", "cost 0.01 is below the market's limits.cost.min = 5"),
        ("10000", "50000", "amount 10000 is above the market's limits.amount.max = 9000"),
        ("0.01", "0.001", "price 0.001 rounds to 0 at the price step 0.01"),
        ("-1", "50000", "amount must be positive"),
    ],
    ids=["rounds-to-zero", "min-cost", "max-amount", "min-price", "negative"],
)
async def test_limit_violation_raises_invalid_order_without_a_request(
    tmp_path: Path, amount: str, price: str, message: str
) -> None:
    exchange = MiniBinance()
    async with (
        exchange.server,
        replay_service("binance", exchange.server, tmp_path, markets=MARKETS) as service,
    ):
        with pytest.raises(InvalidOrderError) as caught:
            await service.create_order("BTC/USDT", "limit", "buy", amount, price)
    assert message in str(caught.value)
    assert str(caught.value).startswith("binance.create_order(BTC/USDT): invalid order: ")
    assert "no request was sent" in str(caught.value)
    assert exchange.server.requests == []


async def test_limit_order_without_price_is_refused(tmp_path: Path) -> None:
    exchange = MiniBinance()
    async with (
        exchange.server,
        replay_service("binance", exchange.server, tmp_path, markets=MARKETS) as service,
    ):
        with pytest.raises(InvalidOrderError, match="a limit order needs a price"):
            await service.create_order("BTC/USDT", "limit", "buy", "0.01")
    assert exchange.server.requests == []

"""The paper exchange returns ccxt's unified structures: every field ccxt fills in, well-typed.

ccxt itself is the reference: the keys of its typed structures (``ccxt.base.types``) and of
what its ``safe_*`` helpers produce must all be in ours, and passing our order through
``safe_order`` must not change its numbers.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from ccxt.base import types as ccxt_types

from omegafarm.exchange.paper import PaperExchange, PaperSettings

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
REFERENCE = ccxt.Exchange()


def _keys(structure: str) -> set[str]:
    """The fields ccxt declares for one unified structure."""
    return set(getattr(ccxt_types, structure).__annotations__)


def _is_number(value: object) -> bool:
    return isinstance(value, float | int) and not isinstance(value, bool)


@pytest.fixture
async def traded() -> PaperExchange:
    """A synthetic exchange with a filled spot order, an open order and a swap position."""
    settings = PaperSettings(
        clock="manual", symbols=["BTC/USDT", "ETH/USDT"], initial_balances={"USDT": Decimal(50_000)}
    )
    ex = PaperExchange(settings)
    await ex.load_markets()
    await ex.create_order("BTC/USDT", "market", "buy", 0.01, None, {"clientOrderId": "c-1"})
    await ex.create_order("ETH/USDT", "limit", "buy", 1, 1000.0)
    await ex.create_order("ETH/USDT:USDT", "market", "sell", 2)
    ex.advance()
    return ex


async def test_markets_carry_every_unified_field(traded: PaperExchange) -> None:
    reference = REFERENCE.safe_market_structure({})
    markets = await traded.fetch_markets()

    assert {m["symbol"] for m in markets} == set(traded.markets)
    for market in markets:
        assert set(reference) <= set(market)
        assert set(reference["precision"]) <= set(market["precision"])
        for key in ("amount", "price", "cost", "leverage"):
            assert set(reference["limits"][key]) <= set(market["limits"][key])
        assert _is_number(market["precision"]["amount"]) and market["precision"]["price"] > 0
        assert market["spot"] != market["swap"] and market["type"] in ("spot", "swap")
        assert isinstance(market["taker"], float) and isinstance(market["info"], dict)
    swap = traded.markets["BTC/USDT:USDT"]
    assert (swap["settle"], swap["linear"], swap["contractSize"]) == ("USDT", True, 1.0)
    assert traded.precisionMode == ccxt.TICK_SIZE


async def test_tickers_carry_every_unified_field(traded: PaperExchange) -> None:
    tickers = await traded.fetch_tickers(["BTC/USDT", "ETH/USDT:USDT"])

    for symbol, ticker in tickers.items():
        assert _keys("Ticker") | set(REFERENCE.safe_ticker({})) <= set(ticker)
        assert ticker["symbol"] == symbol and ISO.match(ticker["datetime"])
        numbers = ("high", "low", "bid", "ask", "last", "close", "open", "baseVolume", "vwap")
        assert all(_is_number(ticker[k]) for k in numbers)
        assert ticker["bid"] < ticker["last"] < ticker["ask"]
        assert ticker["low"] <= ticker["last"] <= ticker["high"]


async def test_orders_and_trades_carry_every_unified_field(traded: PaperExchange) -> None:
    orders = await traded.fetch_orders()
    trades = await traded.fetch_my_trades()

    assert [o["status"] for o in orders] == ["closed", "open", "closed"]
    for order in orders:
        assert _keys("Order") | set(REFERENCE.safe_order({})) <= set(order)
        assert ISO.match(order["datetime"]) and isinstance(order["id"], str)
        for key in ("amount", "filled", "remaining", "cost"):
            assert _is_number(order[key])
        again = REFERENCE.safe_order(dict(order))  # ccxt's own fill-in agrees with ours
        assert again["status"] == order["status"]
        for key in ("amount", "filled", "remaining", "cost", "average", "price"):
            assert again[key] == pytest.approx(order[key])
    assert orders[0]["clientOrderId"] == "c-1"
    assert len(trades) == 2
    for trade in trades:
        assert _keys("Trade") | set(REFERENCE.safe_trade({})) <= set(trade)
        assert {"id", "order", "symbol", "side", "takerOrMaker", "timestamp"} <= set(trade)
        assert trade["cost"] == pytest.approx(trade["price"] * trade["amount"])
        assert set(trade["fee"]) == {"cost", "currency"}


async def test_balance_has_the_unified_shape(traded: PaperExchange) -> None:
    balance = await traded.fetch_balance()

    for currency in ("USDT", "BTC"):
        entry: dict[str, Any] = balance[currency]
        assert entry["total"] == pytest.approx(entry["free"] + entry["used"])
        for part in ("free", "used", "total"):
            assert balance[part][currency] == entry[part]
    assert balance["USDT"]["used"] > 0  # the open ETH order and the swap margin
    assert {"info", "free", "used", "total"} <= set(balance)


async def test_positions_carry_every_unified_field(traded: PaperExchange) -> None:
    [position] = await traded.fetch_positions(["ETH/USDT:USDT"])

    assert _keys("Position") | set(REFERENCE.safe_position({})) <= set(position)
    expected = {
        "symbol",
        "side",
        "contracts",
        "contractSize",
        "entryPrice",
        "markPrice",
        "notional",
        "leverage",
        "unrealizedPnl",
        "liquidationPrice",
        "marginMode",
        "collateral",
        "timestamp",
        "info",
    }
    assert expected <= set(position)
    assert (position["side"], position["contracts"]) == ("short", 2.0)
    assert position["liquidationPrice"] > position["entryPrice"]


async def test_order_book_is_sorted_best_first(traded: PaperExchange) -> None:
    book = await traded.fetch_order_book("BTC/USDT", limit=5)

    assert _keys("OrderBook") <= set(book)
    bids, asks = [p for p, _ in book["bids"]], [p for p, _ in book["asks"]]
    assert len(bids) == len(asks) == 5
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert bids[0] < asks[0]


async def test_every_capability_in_has_is_a_method(traded: PaperExchange) -> None:
    verbs = ("fetch", "create", "cancel", "set")
    promised = [k for k, v in traded.has.items() if v and k.startswith(verbs)]
    snake = [
        re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower().replace("o_h_l_c_v", "ohlcv") for k in promised
    ]

    missing = [name for name in snake if not callable(getattr(traded, name, None))]

    assert missing == []
    assert "fetchMarkets" in promised and traded.has["fetchTrades"] is False
    currencies = await traded.fetch_currencies()
    assert {"BTC", "ETH", "USDT"} <= set(currencies)
    assert currencies["USDT"]["code"] == "USDT"


async def test_helpers_round_like_ccxt(traded: PaperExchange) -> None:
    assert traded.amount_to_precision("BTC/USDT", 0.123456789) == "0.12345"
    assert traded.price_to_precision("BTC/USDT", 42000.129) == "42000.13"
    assert traded.price_to_precision("BTC/USDT", 42000.001) == "42000"  # never "4.2E+4"
    assert traded.market("BTC/USDT")["id"] == "BTCUSDT"
    with pytest.raises(ccxt.BadSymbol):
        traded.market("NOPE/USDT")
    with pytest.raises(ccxt.NotSupported):
        traded.set_sandbox_mode(True)
    await traded.close()
    assert traded.closed

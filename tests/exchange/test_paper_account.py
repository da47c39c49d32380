"""Paper exchange balances, reservations, idempotency and leveraged positions, by hand.

Same market as test_paper_matching: flat warm-up at 100, best ask 100.05, best bid 99.95 while
sigma is 0, 20 units a level, taker 0.1 %, maker 0.05 %.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import ccxt
import pytest

from tests.exchange.test_paper_matching import SYMBOL, make_exchange

SWAP = "TST/USDT:USDT"


CALM = [(100.0, 101.0, 99.0, 100.0, 1000.0)] * 3


async def test_cancel_releases_the_reserved_balance(tmp_path: Path) -> None:
    ex = make_exchange(tmp_path, CALM)
    order = await ex.create_order(SYMBOL, "limit", "buy", 5, 50.0)
    reserved = ex.balance_of("USDT")

    canceled = await ex.cancel_order(order["id"], SYMBOL)
    ex.advance()  # a canceled order never fills, even when price trades through later

    assert reserved == (Decimal("9749.75"), Decimal("250.25"))  # 5 * 50 * 1.001
    assert canceled["status"] == "canceled"
    assert ex.balance_of("USDT") == (Decimal(10_000), Decimal(0))
    assert (await ex.fetch_order(order["id"]))["filled"] == 0.0


async def test_cancel_of_a_closed_or_unknown_order_raises_order_not_found(tmp_path: Path) -> None:
    ex = make_exchange(tmp_path, CALM)
    order = await ex.create_order(SYMBOL, "market", "buy", 1)
    ex.advance()

    with pytest.raises(ccxt.OrderNotFound):
        await ex.cancel_order(order["id"], SYMBOL)
    with pytest.raises(ccxt.OrderNotFound):
        await ex.cancel_order("999", SYMBOL)


async def test_buy_beyond_free_balance_raises_insufficient_funds(tmp_path: Path) -> None:
    ex = make_exchange(tmp_path, CALM)

    with pytest.raises(ccxt.InsufficientFunds):
        await ex.create_order(SYMBOL, "limit", "buy", 100, 100.0)  # needs 10010
    with pytest.raises(ccxt.InsufficientFunds):
        await ex.create_order(SYMBOL, "market", "sell", 1)  # holds no TST
    assert ex.balance_of("USDT") == (Decimal(10_000), Decimal(0))
    assert await ex.fetch_orders() == []


async def test_open_orders_reserve_balance_so_the_next_one_is_refused(tmp_path: Path) -> None:
    ex = make_exchange(tmp_path, CALM)
    await ex.create_order(SYMBOL, "limit", "buy", 50, 90.0)  # reserves 4504.5
    await ex.create_order(SYMBOL, "limit", "buy", 50, 90.0)  # reserves 4504.5

    balance = await ex.fetch_balance()

    assert balance["USDT"] == {"free": 991.0, "used": 9009.0, "total": 10_000.0}
    assert balance["free"]["USDT"] == 991.0
    with pytest.raises(ccxt.InsufficientFunds):
        await ex.create_order(SYMBOL, "limit", "buy", 50, 90.0)


async def test_duplicate_client_order_id_returns_the_existing_order(tmp_path: Path) -> None:
    ex = make_exchange(tmp_path, CALM)
    first = await ex.create_order(SYMBOL, "limit", "buy", 1, 90.0, {"clientOrderId": "bot1-0001"})

    again = await ex.create_order(SYMBOL, "limit", "buy", 1, 90.0, {"clientOrderId": "bot1-0001"})
    by_client_id = await ex.fetch_order("", SYMBOL, {"clientOrderId": "bot1-0001"})

    assert again["id"] == first["id"] == by_client_id["id"]
    assert again["clientOrderId"] == "bot1-0001"
    assert len(await ex.fetch_orders(SYMBOL)) == 1
    assert ex.balance_of("USDT")[1] == Decimal("90.09")  # reserved once


async def test_amount_below_the_step_and_bad_symbols_are_refused(tmp_path: Path) -> None:
    ex = make_exchange(tmp_path, CALM)

    with pytest.raises(ccxt.InvalidOrder):
        await ex.create_order(SYMBOL, "limit", "buy", 1e-9, 90.0)
    with pytest.raises(ccxt.InvalidOrder):
        await ex.create_order(SYMBOL, "limit", "buy", 1)  # no price
    with pytest.raises(ccxt.BadSymbol):
        await ex.create_order("NOPE/USDT", "market", "buy", 1)
    with pytest.raises(ccxt.NotSupported):
        await ex.create_order(SYMBOL, "stop_market", "buy", 1)
    with pytest.raises(ccxt.InvalidOrder):
        await ex.create_order(SYMBOL, "market", "sell", 1, None, {"reduceOnly": True})


async def test_leveraged_long_margin_pnl_and_liquidation_price(tmp_path: Path) -> None:
    ex = make_exchange(tmp_path, CALM)
    await ex.set_leverage(5, SWAP)
    await ex.create_order(SWAP, "market", "buy", 10)

    ex.advance()  # fills 10 @ 100.05; B20 closes at 100
    [pos] = await ex.fetch_positions()

    assert ex.balance_of("USDT") == (Decimal("9798.8995"), Decimal("200.1"))  # fee 1.0005
    assert (pos["symbol"], pos["side"], pos["contracts"]) == (SWAP, "long", 10.0)
    assert pos["entryPrice"] == 100.05
    assert pos["collateral"] == pytest.approx(200.1)  # 10 * 100.05 / 5
    assert pos["markPrice"] == 100.0
    assert pos["notional"] == 1000.0
    assert pos["unrealizedPnl"] == pytest.approx(-0.5)  # 10 * (100 - 100.05)
    assert pos["leverage"] == 5.0
    assert pos["liquidationPrice"] == pytest.approx(100.05 * 0.8 / 0.995)
    assert pos["marginMode"] == "isolated"


async def test_closing_a_long_realizes_pnl_and_frees_the_margin(tmp_path: Path) -> None:
    ex = make_exchange(tmp_path, CALM)
    await ex.set_leverage(5, SWAP)
    await ex.create_order(SWAP, "market", "buy", 10)
    ex.advance()

    close = await ex.create_order(SWAP, "market", "sell", 10, None, {"reduceOnly": True})
    ex.advance()  # fills 10 @ 99.95: PnL 10 * (99.95 - 100.05) = -1.0, fee 0.9995

    assert (await ex.fetch_order(close["id"]))["status"] == "closed"
    assert await ex.fetch_positions() == []
    assert ex.balance_of("USDT") == (Decimal("9997.0"), Decimal(0))  # 10000 - 1.0005 - 1 - 0.9995


async def test_closing_a_position_needs_no_new_margin(tmp_path: Path) -> None:
    ex = make_exchange(tmp_path, CALM, initial_balances={"USDT": Decimal(1000)})
    await ex.create_order(SWAP, "market", "buy", 27)  # 3x: ~900 of margin
    ex.advance()
    free_before_close = ex.balance_of("USDT")[0]

    await ex.create_order(SWAP, "market", "sell", 27)  # closing: reserves only the taker fee
    ex.advance()

    assert free_before_close < 100  # far less than the margin a new 27-lot position needs
    assert await ex.fetch_positions() == []


async def test_short_is_liquidated_when_the_high_reaches_its_liquidation_price(
    tmp_path: Path,
) -> None:
    spike = [(100.0, 101.0, 99.0, 100.0, 1000.0), (100.0, 115.0, 99.0, 110.0, 1000.0)]
    ex = make_exchange(tmp_path, spike)
    await ex.set_leverage(10, SWAP)
    await ex.create_order(SWAP, "market", "sell", 10)
    ex.advance()  # short 10 @ 99.95, margin 99.95, fee 0.9995
    [pos] = await ex.fetch_positions()

    ex.advance()  # high 115 >= 99.95 * 1.1 / 1.005 = 109.398...
    orders = await ex.fetch_closed_orders(SWAP)

    assert pos["liquidationPrice"] == pytest.approx(99.95 * 1.1 / 1.005)
    assert await ex.fetch_positions() == []
    assert ex.balance_of("USDT") == (Decimal("9899.0505"), Decimal(0))  # the margin is gone
    liquidation = orders[-1]
    assert liquidation["info"]["reason"] == "liquidation"
    assert (liquidation["side"], liquidation["amount"]) == ("buy", 10.0)
    assert liquidation["average"] == pytest.approx(99.95 * 1.1 / 1.005)


async def test_leverage_cannot_change_while_a_position_is_open(tmp_path: Path) -> None:
    ex = make_exchange(tmp_path, CALM)
    await ex.create_order(SWAP, "market", "buy", 1)
    ex.advance()

    with pytest.raises(ccxt.BadRequest):
        await ex.set_leverage(10, SWAP)
    with pytest.raises(ccxt.BadRequest):
        await ex.set_leverage(50, "TST/USDT:USDT")

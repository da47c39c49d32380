"""Properties of the paper exchange's accounting under random order sequences (hypothesis).

Whatever a bot does, money is conserved exactly (Decimal): every wallet equals its initial
amount plus what its fills brought in minus what they took out, nothing goes negative, the
``used`` part equals what open orders still reserve, and every order's fills add up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from decimal import Decimal
from typing import Any, Literal, TypeVar

import ccxt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omegafarm.exchange.paper import PaperExchange, PaperSettings

SYMBOL = "SOL/USDT"
Kind = Literal["market", "limit", "cancel", "advance"]
Op = tuple[Kind, Literal["buy", "sell"], float, float]
T = TypeVar("T")
INITIAL = {"USDT": Decimal(1000), "SOL": Decimal(5)}

ops_strategy = st.lists(
    st.tuples(
        st.sampled_from(["market", "limit", "cancel", "advance"]),
        st.sampled_from(["buy", "sell"]),
        st.floats(min_value=0.05, max_value=4.0),
        st.floats(min_value=-0.02, max_value=0.02),
    ),
    max_size=25,
)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a private loop (hypothesis drives sync tests; the suite's loop is left
    alone)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


async def _play(ops: list[Op], seed: int) -> PaperExchange:
    ex = PaperExchange(
        PaperSettings(clock="manual", seed=seed, symbols=[SYMBOL], initial_balances=INITIAL)
    )
    for kind, side, amount, offset in ops:
        if kind == "advance":
            ex.advance()
        elif kind == "cancel":
            for order in (await ex.fetch_open_orders(SYMBOL))[:1]:
                await ex.cancel_order(order["id"], SYMBOL)
        else:
            last = (await ex.fetch_ticker(SYMBOL))["last"]
            price = last * (1 + offset) if kind == "limit" else None
            try:
                await ex.create_order(SYMBOL, kind, side, amount, price)
            except (ccxt.InsufficientFunds, ccxt.InvalidOrder):
                continue  # refused orders change nothing (checked below)
    ex.advance(3)
    return ex


@settings(max_examples=40, deadline=None)
@given(ops=ops_strategy, seed=st.integers(min_value=0, max_value=3))
def test_money_is_conserved_and_reservations_add_up(ops: list[Op], seed: int) -> None:
    ex = _run(_play(ops, seed))

    async def snapshot() -> tuple[list[dict[str, object]], list[dict[str, object]]]:
        return await ex.fetch_my_trades(), await ex.fetch_open_orders()

    trades, open_orders = _run(snapshot())
    expected = dict(INITIAL)
    for trade in trades:
        info = trade["info"]
        assert isinstance(info, dict)
        amount, cost, fee = (Decimal(info[k]) for k in ("amount", "cost", "fee"))
        sign = 1 if trade["side"] == "buy" else -1
        expected["SOL"] += sign * amount
        expected["USDT"] += -sign * cost - fee
    for currency, total in expected.items():
        free, used = ex.balance_of(currency)
        assert free >= 0 and used >= 0
        assert free + used == total
    reserved = {c: Decimal(0) for c in INITIAL}
    for order in open_orders:
        info = order["info"]
        assert isinstance(info, dict)
        reserved[str(info["reserveCurrency"])] += Decimal(str(info["reserved"]))
    assert {c: ex.balance_of(c)[1] for c in INITIAL} == reserved


@settings(max_examples=25, deadline=None)
@given(ops=ops_strategy)
def test_every_order_adds_up(ops: list[Op]) -> None:
    ex = _run(_play(ops, 0))

    orders = _run(ex.fetch_orders())

    for order in orders:
        assert order["filled"] + order["remaining"] == pytest.approx(order["amount"])
        assert sum(t["amount"] for t in order["trades"]) == pytest.approx(order["filled"])
        assert order["status"] in ("open", "closed", "canceled", "rejected")
        if order["status"] == "closed":
            assert order["remaining"] == 0

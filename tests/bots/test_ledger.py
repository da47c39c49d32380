"""The per-bot ledger: fills from order snapshots, position, cash, PnL and round trips."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from omegafarm.bots.ledger import Ledger, OrderUpdate


def snap(cid: str, side: str, filled: str, cost: str, fee: str, status: str = "open", ts: int = 1):
    return OrderUpdate(
        cid, "x" + cid, "ETH/USDT", side, "market", status, D("2"), D(filled), D(cost), D(fee),
        "USDT", None, ts,
    )  # fmt: skip


def fresh() -> Ledger:
    ledger = Ledger("b1", "ETH/USDT", "ETH", "USDT", D("1000"))
    for cid, side in (("b1-1", "buy"), ("b1-2", "sell"), ("b1-3", "sell")):
        ledger.register(snap(cid, side, "0", "0", "0", status="pending"))
    return ledger


def test_partial_fills_become_separate_fills_and_replays_add_nothing() -> None:
    ledger = fresh()
    first = ledger.apply(snap("b1-1", "buy", "1", "100", "0.1"))
    again = ledger.apply(snap("b1-1", "buy", "1", "100", "0.1"))
    second = ledger.apply(snap("b1-1", "buy", "2", "210", "0.21", status="closed"))
    assert first is not None and first.price == D("100")
    assert again is None
    assert second is not None and second.price == D("110") and second.fee == D("0.11")
    assert ledger.position == D("2") and ledger.avg_price == D("105")
    assert ledger.cash == D("1000") - D("210") - D("0.21")
    assert "b1-1" not in {o.client_order_id for o in ledger.open_orders()}


def test_round_trip_books_realized_pnl_net_of_fees_in_one_trade() -> None:
    ledger = fresh()
    ledger.apply(snap("b1-1", "buy", "2", "200", "0.2", status="closed", ts=10))
    ledger.apply(snap("b1-2", "sell", "2", "240", "0.24", status="closed", ts=20))
    assert ledger.position == 0 and ledger.realized_pnl == D("40")
    (trade,) = ledger.trades
    assert (trade.entry_ts_ms, trade.exit_ts_ms, trade.exit_price) == (10, 20, D("120"))
    assert trade.pnl == D("40") - D("0.44") and trade.fee == D("0.44")
    assert ledger.cash == D("1000") + D("40") - D("0.44")


def test_a_flip_closes_one_trade_and_opens_a_short() -> None:
    ledger = fresh()
    ledger.apply(snap("b1-1", "buy", "1", "100", "0", status="closed"))
    big_sell = OrderUpdate(
        "b1-3", "x3", "ETH/USDT", "sell", "market", "closed", D("3"), D("3"), D("330"), D("0"),
        "USDT", None, 5,
    )  # fmt: skip
    ledger.apply(big_sell)
    assert ledger.position == D("-2") and ledger.avg_price == D("110")
    assert [t.side for t in ledger.trades] == ["long", "short"]
    assert ledger.trades[0].pnl == D("10")


def test_an_order_of_another_bot_is_refused() -> None:
    with pytest.raises(KeyError):
        fresh().apply(snap("b2-1", "buy", "1", "100", "0"))


def test_snapshot_restores_an_identical_ledger() -> None:
    ledger = fresh()
    ledger.apply(snap("b1-1", "buy", "1", "100", "0.1"))
    restored = Ledger.restore(ledger.snapshot())
    assert restored.snapshot() == ledger.snapshot()
    assert [o.client_order_id for o in restored.open_orders()] == [
        o.client_order_id for o in ledger.open_orders()
    ]

"""The engine's fast paths must change nothing: a symbol with no order and no position jumps
its bars in one step, and a book is computed once per bar and mid. The same script played with
them forced off (every bar event one by one, every book afresh: the way the engine worked
before) gives the same orders, fills, balances, positions, books and clock, to the last Decimal
digit."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar

import ccxt
from hypothesis import given, settings
from hypothesis import strategies as st

from omegafarm.exchange.paper import PaperExchange, PaperSettings, write_candles

T = TypeVar("T")
SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
MIN = 60_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % MIN
Kind = Literal["market", "limit", "swap", "cancel", "step"]
Op = tuple[Kind, int, Literal["buy", "sell"], float, int]


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a private loop (hypothesis drives sync tests)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def _exchange(fast: bool, latency_ms: int = 0, fills: str = "next_open") -> PaperExchange:
    return PaperExchange(
        PaperSettings(
            clock="manual",
            seed=3,
            symbols=SYMBOLS,
            warmup_bars=30,
            latency_ms=latency_ms,
            market_fills=fills,
            fast_path=fast,  # False = bar by bar, books afresh
            leverage=20,
            initial_balances={
                "USDT": Decimal(200_000),
                "BTC": Decimal(1),
                "ETH": Decimal(10),
                "SOL": Decimal(100),
            },
        )
    )


async def _snapshot(ex: PaperExchange) -> dict[str, object]:
    """Everything an observer can see, plus the engine's bar cursors."""
    return {
        "now": ex.milliseconds(),
        "orders": await ex.fetch_orders(),
        "trades": await ex.fetch_my_trades(),
        "balance": {c: ex.balance_of(c) for c in ("USDT", "BTC", "ETH", "SOL")},
        "positions": await ex.fetch_positions(),
        "books": [await ex.fetch_order_book(s) for s in SYMBOLS],
        "tickers": await ex.fetch_tickers(),
        "cursors": ex.bar_cursors(),
    }


async def _play(
    ops: list[Op], fast: bool, latency_ms: int, fills: str = "next_open"
) -> dict[str, object]:
    ex = _exchange(fast, latency_ms, fills)
    for kind, which, side, size, bars in ops:
        symbol = SYMBOLS[which % len(SYMBOLS)]
        if kind == "step":  # whole bars, or to the middle of a bar
            ex.step_to(ex.milliseconds() + bars * MIN + (MIN // 2 if size > 1 else 0))
            continue
        if kind == "cancel":
            for order in (await ex.fetch_open_orders())[:1]:
                await ex.cancel_order(order["id"])
            continue
        last = (await ex.fetch_ticker(symbol))["last"]
        amount = size * 1000 / last
        try:
            if kind == "limit":  # a little away from the last price: rests, fills later
                price = last * (0.995 if side == "buy" else 1.005)
                await ex.create_order(symbol, "limit", side, amount, price)
            else:
                market = f"{symbol}:USDT" if kind == "swap" else symbol
                await ex.create_order(market, "market", side, amount)
        except (ccxt.InsufficientFunds, ccxt.InvalidOrder):
            continue  # refused the same way on both paths (compared below)
    ex.advance(5)
    return await _snapshot(ex)


SCRIPT: list[Op] = [
    ("market", 0, "buy", 2.0, 0),
    ("step", 0, "buy", 0.5, 40),
    ("limit", 1, "sell", 1.0, 0),
    ("limit", 2, "buy", 1.5, 0),
    ("swap", 0, "buy", 50.0, 0),  # 20x leverage: a position that may be liquidated
    ("step", 0, "buy", 2.0, 7),
    ("market", 1, "sell", 1.0, 0),
    ("step", 0, "buy", 0.5, 300),
    ("swap", 2, "sell", 30.0, 0),
    ("step", 0, "buy", 2.0, 1),
    ("cancel", 0, "buy", 0.0, 0),
    ("step", 0, "buy", 0.5, 600),
    ("step", 0, "buy", 0.5, 5000),  # long enough for both swap positions to be liquidated
    ("market", 2, "buy", 3.0, 0),
    ("step", 0, "buy", 0.5, 2),
]


def test_fast_path_and_bar_by_bar_give_identical_runs() -> None:
    fast = _run(_play(SCRIPT, True, 0))
    slow = _run(_play(SCRIPT, False, 0))
    assert fast == slow
    trades = fast["trades"]
    assert isinstance(trades, list)
    assert {t["takerOrMaker"] for t in trades} == {"taker", "maker"}  # both kinds exercised
    orders = fast["orders"]
    assert isinstance(orders, list)
    assert sum(o["info"]["reason"] == "liquidation" for o in orders) == 2


def test_fast_path_with_latency_fills_on_the_same_bars() -> None:
    assert _run(_play(SCRIPT, True, 90_000)) == _run(_play(SCRIPT, False, 90_000))


def test_intrabar_market_fills_give_the_same_run_on_both_paths() -> None:
    fast = _run(_play(SCRIPT, True, 20_000, "intrabar"))
    assert fast == _run(_play(SCRIPT, False, 20_000, "intrabar"))
    assert fast != _run(_play(SCRIPT, True, 20_000, "next_open"))  # intrabar changed fills


def test_fast_path_jumps_the_cursors_the_same_way_as_bar_events() -> None:
    fast, slow = _exchange(True), _exchange(False)
    for target_bars in (0.5, 1, 1, 37.25, 38, 1000):
        assert fast.step_to(fast.milliseconds() + int(target_bars * MIN)) == slow.step_to(
            slow.milliseconds() + int(target_bars * MIN)
        )
        assert fast.bar_cursors() == slow.bar_cursors()


ops_strategy = st.lists(
    st.tuples(
        st.sampled_from(["market", "limit", "swap", "cancel", "step", "step"]),
        st.integers(min_value=0, max_value=2),
        st.sampled_from(["buy", "sell"]),
        st.floats(min_value=0.2, max_value=3.0),
        st.integers(min_value=0, max_value=120),
    ),
    max_size=20,
)


@settings(max_examples=25, deadline=None)
@given(
    ops=ops_strategy,
    latency_ms=st.sampled_from([0, 30_000]),
    fills=st.sampled_from(["next_open", "intrabar"]),
)
def test_any_order_sequence_gives_the_same_run_on_both_paths(
    ops: list[Op], latency_ms: int, fills: str
) -> None:
    assert _run(_play(ops, True, latency_ms, fills)) == _run(_play(ops, False, latency_ms, fills))


async def _gapped_run(tmp_path: Path, fast: bool) -> tuple[object, ...]:
    """Bars that open 1.5 above the last close: the book a query sees at the close and
    the book an arriving order meets at the next open share a bar but not a mid."""
    rows = [
        (T0 + i * MIN, 100.0 + i, 100.5 + i, 99.0 + i, 99.5 + i, 50.0 + i % 7) for i in range(60)
    ]
    write_candles(tmp_path, "GAP/USDT", "1m", rows)
    ex = PaperExchange(
        PaperSettings(
            source="replay",
            clock="manual",
            replay_path=tmp_path,
            warmup_bars=30,
            perpetuals=False,
            initial_balances={"USDT": Decimal(100_000)},
            fast_path=fast,
        )
    )
    books = []
    for _ in range(5):
        books.append(await ex.fetch_order_book("GAP/USDT"))
        order = await ex.create_order("GAP/USDT", "market", "buy", 3.0)
        ex.advance()
        books.append(await ex.fetch_order_book("GAP/USDT"))
        books.append(await ex.fetch_order(order["id"]))
    return tuple(books), ex.balance_of("USDT"), ex.balance_of("GAP")


async def test_remembered_books_tell_apart_the_close_and_the_next_open(tmp_path: Path) -> None:
    fast = await _gapped_run(tmp_path / "fast", True)
    slow = await _gapped_run(tmp_path / "slow", False)
    assert fast == slow
    fills = [o for o in fast[0] if isinstance(o, dict) and o.get("status") == "closed"]
    assert len(fills) == 5
    assert all(o["average"] > 100.0 + 30 for o in fills)  # paid around the next open, not the close


async def _edge_run(tmp_path: Path, fast: bool) -> tuple[object, ...]:
    """Resting limits one tick inside, on and one tick outside the bar's low and high."""
    rows = [(T0 + i * MIN, 100.0, 100.0, 100.0, 100.0, 1000.0) for i in range(30)]
    rows.append((T0 + 30 * MIN, 100.0, 100.37, 99.63, 100.0, 1000.0))
    write_candles(tmp_path, "EDG/USDT", "1m", rows)
    ex = PaperExchange(
        PaperSettings(
            source="replay",
            clock="manual",
            replay_path=tmp_path,
            warmup_bars=30,
            perpetuals=False,
            initial_balances={"USDT": Decimal(100_000), "EDG": Decimal(100)},
            fast_path=fast,
        )
    )
    tick = 0.0001
    ids = []
    for side, edge in (("buy", 99.63), ("sell", 100.37)):
        for offset in (-tick, 0.0, tick):
            order = await ex.create_order("EDG/USDT", "limit", side, 1.0, edge + offset)
            ids.append(order["id"])
    ex.advance()
    orders = [await ex.fetch_order(i) for i in ids]
    return tuple(orders), ex.balance_of("USDT"), ex.balance_of("EDG")


async def test_limits_at_the_bar_edges_fill_the_same_on_both_paths(tmp_path: Path) -> None:
    fast = await _edge_run(tmp_path / "fast", True)
    slow = await _edge_run(tmp_path / "slow", False)
    assert fast == slow
    orders = fast[0]
    assert isinstance(orders, tuple)
    # through, not touched: buy above the low (low < price), sell below the high (high > price)
    assert [o["filled"] > 0 for o in orders] == [False, False, True, True, False, False]

"""Constant-size bot state: the hot state, the event stream, old saved ledgers, expiring
gateway records (issue 11, item 2)."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from pathlib import Path
from typing import Any

from omegafarm.bots import _history, _view
from omegafarm.bots.config import BotSettings, FarmSettings
from omegafarm.bots.gateway import FINISHED_ORDER_TTL_S, Gateway
from omegafarm.bots.lease import BotWrite, Leases
from omegafarm.bots.ledger import RECENT_FINISHED, Ledger, OrderUpdate
from omegafarm.bots.live import LiveBot
from omegafarm.store import RedisClient, decode, encode
from omegafarm.store import keys as _names
from tests.bots._gateways import hold_partitions
from tests.integration._farm import paper_exchange

DATA = Path(__file__).parent / "data"
TS = 1_700_000_000_000
SLACK_BYTES = 64  # the extra digits of counters and order numbers (10 -> 10,000): not growth


def _update(cid: str, side: str, status: str, filled: str, cost: str, n: int) -> OrderUpdate:
    return OrderUpdate(cid, f"x{cid}", "ETH/USDT", side, "market", status, D(1), D(filled),
                       D(cost), D(cost) / 1000, "USDT", None, TS + n)  # fmt: skip


def _pending(cid: str, side: str, n: int) -> OrderUpdate:
    return OrderUpdate(cid, None, "ETH/USDT", side, "market", "pending", D(1), D(0), D(0),
                       D(0), None, None, TS + n)  # fmt: skip


def _write_size(ledger: Ledger) -> int:
    """Bytes of one save as LiveBot.flush encodes it: the snapshot plus the events drained."""
    return len(encode(ledger.snapshot())) + sum(len(encode(e)) for e in ledger.drain_events())


def _round_trip(ledger: Ledger, n: int, *, measure: bool = True) -> list[int]:
    """Order n of the bot (buys and sells in turn): registered, acknowledged, filled; the
    bytes of each of the three saves (``measure``; otherwise only the events are drained)."""
    cid, side = f"b1-{n}", "buy" if n % 2 else "sell"
    price = str(100 + n % 7)
    sizes = []
    for step in (
        lambda: ledger.register(_pending(cid, side, n)),
        lambda: ledger.apply(_update(cid, side, "open", "0", "0", n)),
        lambda: ledger.apply(_update(cid, side, "closed", "1", price, n)),
    ):
        step()
        sizes.append(_write_size(ledger) if measure else len(ledger.drain_events()))
    return sizes


def test_the_write_per_event_after_10_000_orders_is_the_size_of_the_write_after_10() -> None:
    ledger = Ledger("b1", "ETH/USDT", "ETH", "USDT", D(100_000), history=False)
    sizes: dict[int, list[int]] = {}

    for n in range(1, 10_001):
        measured = n in (10, 100, 1_000, 10_000)
        written = _round_trip(ledger, n, measure=measured)
        if measured:
            sizes[n] = written

    for step in range(3):  # register, acknowledge, fill: each the same size at every age
        at = [sizes[n][step] for n in sorted(sizes)]
        assert max(at) - min(at) <= SLACK_BYTES, (step, sizes)
    assert sizes[10_000][2] < 2_500  # a few open orders' worth, not a history
    assert ledger.closed_trades == 5_000 and ledger.issued == 10_000
    assert len(ledger.orders) == 0 and len(ledger.finished) == RECENT_FINISHED


def test_a_late_or_replayed_update_of_a_finished_order_books_nothing_twice() -> None:
    ledger = Ledger("b1", "ETH/USDT", "ETH", "USDT", D(1000), history=False)
    for n in range(1, 21):
        _round_trip(ledger, n)
    cash = ledger.cash

    assert ledger.apply(_update("b1-20", "sell", "closed", "1", "106", 20)) is None  # replay
    assert ledger.apply(_update("b1-3", "buy", "closed", "1", "103", 3)) is None  # long gone
    assert ledger.owns("b1-3") and not ledger.tracks("b1-3") and not ledger.owns("b1-21")
    assert ledger.cash == cash and ledger.drain_events() == []


def test_a_fill_reported_after_the_end_of_a_recent_order_is_booked_once() -> None:
    ledger = Ledger("b1", "ETH/USDT", "ETH", "USDT", D(1000), history=False)
    ledger.register(_pending("b1-1", "buy", 1))
    ledger.apply(_update("b1-1", "buy", "rejected", "0", "0", 1))  # the gateway said rejected
    taken = _update("b1-1", "buy", "closed", "1", "100", 2)  # the exchange had taken it

    fill = ledger.apply(taken)
    again = ledger.apply(taken)

    assert fill is not None and fill.amount == 1 and again is None
    assert ledger.position == 1 and ledger.cash == D(1000) - D(100) - D("0.1")
    kinds = [e["kind"] for e in ledger.drain_events()]
    assert kinds == ["order", "fill", "order"]  # the final snapshot is appended again


def test_a_ledger_with_all_its_cash_in_the_position_restores_with_no_cash() -> None:
    ledger = Ledger("b1", "ETH/USDT", "ETH", "USDT", D(100), history=False)
    ledger.register(_pending("b1-1", "buy", 1))
    ledger.apply(OrderUpdate("b1-1", "x1", "ETH/USDT", "buy", "market", "closed", D(1), D(1),
                             D(100), D(0), "USDT", None, TS))  # fmt: skip

    restored = Ledger.restore(ledger.snapshot())

    assert ledger.cash == 0 and restored.cash == 0 and restored.position == 1


def _saved_format1() -> dict[str, Any]:
    """A bot's saved state as the farm wrote it before the event stream (every order, the
    last 500 fills and trades): 5 round trips (3 won), one rejected order, a half-filled open
    buy and a pending sell."""
    state: dict[str, Any] = decode((DATA / "bot_state_format1.json").read_bytes())
    return state


def test_a_saved_ledger_of_the_first_format_is_converted_on_load() -> None:
    old = _saved_format1()["ledger"]

    ledger = Ledger.restore(old)

    assert (ledger.cash, ledger.position, ledger.fees) == (old["cash"], old["position"],
                                                          old["fees"])  # fmt: skip
    assert (ledger.realized_pnl, ledger.avg_price) == (old["realized_pnl"], old["avg_price"])
    assert sorted(o.client_order_id for o in ledger.open_orders()) == ["old-12", "old-13"]
    assert (ledger.closed_trades, ledger.wins, ledger.issued) == (5, 3, 13)
    assert ledger.open_trade is not None and ledger.open_trade.amount == D("0.5")
    assert ledger.owns("old-1") and ledger.apply(OrderUpdate(**old["orders"]["old-1"])) is None
    events = ledger.drain_events()  # the history, for the first save's event stream
    assert [e["kind"] for e in events].count("order") == 11
    assert [e["kind"] for e in events].count("trade") == 5
    assert ledger.snapshot()["format"] == 2
    assert len(encode(ledger.snapshot())) < len(encode(old)) / 3


async def _bot(redis: RedisClient, bot_id: str, symbol: str = "ETH/USDT") -> LiveBot:
    spec = BotSettings(id=bot_id, strategy="sma_cross", symbol=symbol, capital=D(100_000))
    leases = Leases(redis, "w1", 600.0)  # the test holds it throughout
    lease = await leases.acquire(bot_id)
    assert lease is not None
    bot = LiveBot(spec, redis, leases, lease)
    await bot.start()
    return bot


async def test_a_bot_started_on_an_old_saved_state_keeps_its_books_and_moves_its_history(
    redis_client: RedisClient,
) -> None:
    await redis_client.set(_names.bot_state("old"), _saved_format1())
    before_start = await _view.trades(redis_client, "old")  # read from the old format

    bot = await _bot(redis_client, "old")

    saved = await redis_client.get(_names.bot_state("old"))
    assert saved["ledger"]["format"] == 2 and saved["seq"] == 13
    assert saved["strategy_state"] == {"k": 1}
    assert sorted(saved["ledger"]["orders"]) == ["old-12", "old-13"]
    trades = await _view.trades(redis_client, "old")
    assert len(trades) == 6 and trades[-1]["exit_ts_ms"] is None  # 5 closed + the open one
    assert before_start == trades
    status = await redis_client.get(_names.status("old"))
    assert (status["trades"], status["win_rate"]) == (5, 0.6)
    finished = await _history.finished_orders(redis_client, bot._t.ledger)
    assert len(finished) == 11 and finished["old-11"].status == "rejected"


async def test_a_live_bot_writes_the_same_bytes_after_10_and_after_500_orders(
    redis_client: RedisClient,
) -> None:
    bot = await _bot(redis_client, "big")
    trader, raw = bot._t, redis_client._raw
    state_key = redis_client.keys.key(_names.bot_state("big"))
    sizes: dict[int, int] = {}

    for n in range(1, 501):
        side = "buy" if n % 2 else "sell"
        cid = trader.order(side, D(1), None)
        assert cid == f"big-{n}"
        await bot.flush()  # saved as pending, then the place command sent
        trader.order_update(_update(cid, side, "closed", "1", str(100 + n % 7), n))
        await bot.flush()
        if n in (10, 500):
            sizes[n] = int(await raw.strlen(state_key))

    assert abs(sizes[500] - sizes[10]) <= SLACK_BYTES, sizes
    events = await _history.events(redis_client, "big")
    assert len([e for e in events if e["kind"] == "order"]) == 500  # nothing lost
    assert len([e for e in events if e["kind"] == "fill"]) == 500
    assert len(await _view.trades(redis_client, "big")) == 250
    status = await redis_client.get(_names.status("big"))
    assert status["trades"] == 250 and status["open_orders"] == 0


async def test_the_fenced_save_writes_nothing_once_the_lease_moved(
    redis_client: RedisClient,
) -> None:
    a, b = Leases(redis_client, "wa", 5.0), Leases(redis_client, "wb", 5.0)
    first = await a.acquire("gone")
    assert first is not None and await a.release(first)
    assert await b.acquire("gone") is not None
    write = BotWrite(encode({"x": 1}), [encode({"kind": "order"})], encode({"s": 1}), 5_000)

    assert not await a.fenced_save(first, write)

    assert await redis_client.get(_names.bot_state("gone")) is None
    assert await redis_client.get(_names.status("gone")) is None
    assert await _history.events(redis_client, "gone") == []


async def test_the_fenced_save_publishes_the_feed_messages_after_its_writes(
    redis_client: RedisClient,
) -> None:
    leases = Leases(redis_client, "wa", 5.0)
    lease = await leases.acquire("fed")
    assert lease is not None
    sub = redis_client.subscription()
    await sub.subscribe(_names.FEED_BOTS)
    write = BotWrite(encode({"x": 1}), [], channel=_names.FEED_BOTS,
                     messages=[encode({"kind": "status", "id": "fed"})])  # fmt: skip

    assert await leases.fenced_save(lease, write)

    message = await asyncio.wait_for(anext(aiter(sub)), timeout=10)
    assert message.data == {"kind": "status", "id": "fed"}
    assert await redis_client.get(_names.bot_state("fed")) == {"x": 1}
    await sub.close()


async def test_a_finished_orders_gateway_record_expires_and_leaves_the_open_set(
    redis_client: RedisClient, tmp_path: Path
) -> None:
    gateway = Gateway(redis_client, paper_exchange(tmp_path), FarmSettings(), set())
    p = gateway.partition_of("b1")
    await hold_partitions(gateway, p)  # the open set is the partition's, written under its lease
    working = _update("b1-1", "buy", "open", "0", "0", 1)
    done = _update("b1-1", "buy", "closed", "1", "100", 2)

    await gateway.orders.publish("b1", working)
    open_ttl = await redis_client.ttl_s(_names.order_record("b1-1"))
    open_set = await redis_client.get(_names.partition_open(p))
    tracked = gateway.orders.open.get("b1-1")
    told = None if tracked is None else (tracked.bot, tracked.told)
    await gateway.orders.publish("b1", done)

    ttl = await redis_client.ttl_s(_names.order_record("b1-1"))
    assert open_ttl is None and "b1-1" in open_set  # kept while the order works
    assert ttl is not None and FINISHED_ORDER_TTL_S - 60 < ttl <= FINISHED_ORDER_TTL_S
    assert await redis_client.get(_names.partition_open(p)) == {}
    assert told == ("b1", (D(0), "open"))  # one record per open order, in memory
    assert "b1-1" not in gateway.orders.open  # ...gone with the order
    record = await redis_client.get(_names.order_record("b1-1"))
    assert record["status"] == "closed"

"""Paper exchange matching engine, checked against fills computed by hand.

The market is a replay file written by the test: 20 flat warm-up bars (100, volume 1000), then
the scenario bars below. With sigma = 0 the simulated book (docs/paper-exchange.md) is:
spread 10 bps → best ask 100.05 / best bid 99.95, one tick (0.0001) between levels, 20 units a
level (0.02 x mean volume 1000). Fees: taker 0.1 %, maker 0.05 %.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import ccxt
import pytest

from omegafarm.exchange.paper import BookSettings, PaperExchange, PaperSettings, write_candles

SYMBOL = "TST/USDT"
T0 = 1_699_999_980_000
MIN = 60_000
WARMUP = 20
FLAT = [(100.0, 100.0, 100.0, 100.0, 1000.0)] * WARMUP
SCENARIO = [
    (100.0, 101.0, 99.0, 100.0, 1000.0),  # B20
    (100.0, 100.5, 98.0, 99.0, 100.0),  # B21: low volume → participation cap 10
    (99.0, 102.0, 97.0, 101.0, 1000.0),  # B22
    (101.0, 101.0, 101.0, 101.0, 1000.0),  # B23
]


def make_exchange(
    tmp_path: Path,
    bars: list[tuple[float, float, float, float, float]] | None = None,
    **overrides: object,
) -> PaperExchange:
    """A paper exchange replaying FLAT + ``bars`` of TST/USDT at 1m, clock after the warm-up."""
    rows = [(T0 + i * MIN, *bar) for i, bar in enumerate(FLAT + (bars or SCENARIO))]
    write_candles(tmp_path, SYMBOL, "1m", rows)
    values: dict[str, object] = {
        "source": "replay",
        "clock": "manual",
        "replay_path": tmp_path,
        "timeframe": "1m",
        "warmup_bars": WARMUP,
        "initial_balances": {"USDT": Decimal(10_000)},
        "taker_fee": Decimal("0.001"),
        "maker_fee": Decimal("0.0005"),
        "book": BookSettings(spread_floor_bps=10.0, level_volume_fraction=0.02),
    }
    values.update(overrides)
    return PaperExchange(PaperSettings.model_validate(values))


def free_used(ex: PaperExchange, currency: str) -> tuple[Decimal, Decimal]:
    return ex.balance_of(currency)


async def test_market_buy_fills_at_next_bar_open_walking_the_book(tmp_path: Path) -> None:
    ex = make_exchange(tmp_path)
    order = await ex.create_order(SYMBOL, "market", "buy", 30)
    assert order["status"] == "open" and order["filled"] == 0.0  # nothing fills on a closed bar
    assert free_used(ex, "USDT") == (Decimal("6846.85"), Decimal("3153.15"))  # 30*105*1.001

    assert ex.advance() == 1
    done = await ex.fetch_order(order["id"])

    # 20 @ 100.05 + 10 @ 100.0501 = 3001.501; fee 0.1 % = 3.001501
    assert done["status"] == "closed"
    assert done["cost"] == pytest.approx(3001.501, abs=1e-9)
    assert done["average"] == pytest.approx(3001.501 / 30, abs=1e-12)
    assert done["fee"] == {"cost": pytest.approx(3.001501, abs=1e-12), "currency": "USDT"}
    assert done["trades"][0]["timestamp"] == T0 + WARMUP * MIN
    assert done["trades"][0]["takerOrMaker"] == "taker"
    assert free_used(ex, "USDT") == (Decimal("6995.497499"), Decimal(0))
    assert free_used(ex, "TST") == (Decimal(30), Decimal(0))


async def test_market_sell_receives_best_bid_minus_fee(tmp_path: Path) -> None:
    ex = make_exchange(tmp_path, initial_balances={"USDT": Decimal(0), "TST": Decimal(50)})
    order = await ex.create_order(SYMBOL, "market", "sell", 10)
    assert free_used(ex, "TST") == (Decimal(40), Decimal(10))

    ex.advance()
    done = await ex.fetch_order(order["id"])

    assert done["average"] == pytest.approx(99.95)  # 100 * (1 - 0.0005)
    assert free_used(ex, "USDT") == (Decimal("998.5005"), Decimal(0))  # 999.5 - 0.9995
    assert free_used(ex, "TST") == (Decimal(40), Decimal(0))


async def test_limit_buy_rests_then_fills_at_its_price_as_maker(tmp_path: Path) -> None:
    ex = make_exchange(tmp_path)
    order = await ex.create_order(SYMBOL, "limit", "buy", 5, 99.5)
    assert free_used(ex, "USDT") == (Decimal("9502.0025"), Decimal("497.9975"))  # 5*99.5*1.001

    ex.advance()  # B20 low 99 < 99.5
    done = await ex.fetch_order(order["id"])

    assert done["status"] == "closed"
    assert done["average"] == 99.5
    assert done["trades"][0]["takerOrMaker"] == "maker"
    assert done["fee"]["cost"] == pytest.approx(0.24875)  # 497.5 * 0.0005
    assert free_used(ex, "USDT") == (Decimal("9502.25125"), Decimal(0))


async def test_limit_buy_does_not_fill_when_low_only_touches_price(tmp_path: Path) -> None:
    ex = make_exchange(tmp_path)
    order = await ex.create_order(SYMBOL, "limit", "buy", 5, 99.0)

    ex.advance()  # B20 low == 99: touched, not traded through

    assert (await ex.fetch_order(order["id"]))["filled"] == 0.0


async def test_partial_fills_are_capped_by_participation_in_bar_volume(tmp_path: Path) -> None:
    ex = make_exchange(tmp_path)
    order = await ex.create_order(SYMBOL, "limit", "buy", 25, 99.0)

    ex.advance(2)  # B20 touches 99, B21 trades through on volume 100 → at most 10
    partial = await ex.fetch_order(order["id"])
    ex.advance()  # B22 volume 1000 → up to 100: the remaining 15
    done = await ex.fetch_order(order["id"])

    assert (partial["status"], partial["filled"], partial["remaining"]) == ("open", 10.0, 15.0)
    assert (done["status"], done["filled"], done["remaining"]) == ("closed", 25.0, 0.0)
    assert [t["amount"] for t in done["trades"]] == [10.0, 15.0]
    assert free_used(ex, "USDT") == (Decimal("7523.7625"), Decimal(0))  # 2475 + 1.2375 fee


async def test_participation_budget_is_shared_oldest_order_first(tmp_path: Path) -> None:
    ex = make_exchange(tmp_path)
    older = await ex.create_order(SYMBOL, "limit", "buy", 8, 99.0)
    newer = await ex.create_order(SYMBOL, "limit", "buy", 8, 99.0)

    ex.advance(2)

    assert (await ex.fetch_order(older["id"]))["filled"] == 8.0
    assert (await ex.fetch_order(newer["id"]))["filled"] == 2.0


async def test_marketable_limit_takes_the_book_then_rests_as_maker(tmp_path: Path) -> None:
    ex = make_exchange(tmp_path)
    order = await ex.create_order(SYMBOL, "limit", "buy", 30, 100.05)

    ex.advance()
    done = await ex.fetch_order(order["id"])

    # level 0 (20 @ 100.05) is taken; level 1 (100.0501) is above the limit; 10 rest and fill
    assert [(t["takerOrMaker"], t["amount"]) for t in done["trades"]] == [
        ("taker", 20.0),
        ("maker", 10.0),
    ]
    assert done["fee"]["cost"] == pytest.approx(2.001 + 0.50025)
    assert free_used(ex, "USDT") == (Decimal("6995.99875"), Decimal(0))


async def test_immediate_or_cancel_cancels_what_the_book_cannot_give(tmp_path: Path) -> None:
    ex = make_exchange(tmp_path)
    order = await ex.create_order(SYMBOL, "limit", "buy", 30, 100.05, {"timeInForce": "IOC"})

    ex.advance()
    done = await ex.fetch_order(order["id"])

    assert (done["status"], done["filled"]) == ("canceled", 20.0)
    assert free_used(ex, "USDT")[1] == 0


async def test_fill_or_kill_that_cannot_fill_completely_is_canceled_untouched(
    tmp_path: Path,
) -> None:
    ex = make_exchange(tmp_path)
    order = await ex.create_order(SYMBOL, "limit", "buy", 30, 100.05, {"timeInForce": "FOK"})

    ex.advance()
    done = await ex.fetch_order(order["id"])

    assert (done["status"], done["filled"]) == ("canceled", 0.0)
    assert free_used(ex, "USDT") == (Decimal(10_000), Decimal(0))


async def test_post_only_that_would_take_raises_order_immediately_fillable(tmp_path: Path) -> None:
    ex = make_exchange(tmp_path)

    with pytest.raises(ccxt.OrderImmediatelyFillable):
        await ex.create_order(SYMBOL, "limit", "buy", 1, 100.06, {"postOnly": True})


async def test_latency_delays_the_fill_to_the_bar_after_arrival(tmp_path: Path) -> None:
    ex = make_exchange(tmp_path, latency_ms=1)
    order = await ex.create_order(SYMBOL, "market", "buy", 1)

    ex.advance()  # B20 opened before the order arrived
    still_open = await ex.fetch_order(order["id"])
    ex.advance()  # B21 opens after arrival: fills at its open (100) + half spread
    done = await ex.fetch_order(order["id"])

    assert still_open["status"] == "open"
    assert done["average"] == pytest.approx(100.05)
    assert done["trades"][0]["timestamp"] == T0 + (WARMUP + 1) * MIN


async def test_order_sent_mid_bar_fills_at_the_next_open_once_that_bar_opens(
    tmp_path: Path,
) -> None:
    ex = make_exchange(tmp_path)
    b20, b21 = T0 + WARMUP * MIN, T0 + (WARMUP + 1) * MIN
    ex.step_to(b20 + 30_000)  # half way through B20: its open is past
    order = await ex.create_order(SYMBOL, "market", "buy", 1)

    ex.step_to(b21)  # B20 closes; B21 opens at this very instant, not yet past it
    at_open = await ex.fetch_order(order["id"])
    ex.step_to(b21 + 1)
    done = await ex.fetch_order(order["id"])

    assert at_open["status"] == "open"
    assert done["status"] == "closed" and done["average"] == pytest.approx(100.05)
    assert done["trades"][0]["timestamp"] == b21
    assert (await ex.fetch_ohlcv(SYMBOL, "1m"))[-1][0] == b20  # B21 is still forming


async def test_no_candle_after_the_clock_is_visible(tmp_path: Path) -> None:
    ex = make_exchange(tmp_path)

    before = await ex.fetch_ohlcv(SYMBOL, "1m")
    ex.advance()
    after = await ex.fetch_ohlcv(SYMBOL, "1m")

    assert before[-1][0] == T0 + (WARMUP - 1) * MIN
    assert after[-1][0] == T0 + WARMUP * MIN
    assert after[-1][1:] == [100.0, 101.0, 99.0, 100.0, 1000.0]
    assert ex.milliseconds() == T0 + (WARMUP + 1) * MIN


async def test_coarser_timeframe_aggregates_closed_bars(tmp_path: Path) -> None:
    ex = make_exchange(tmp_path)
    ex.advance(4)  # B20..B23 closed
    bucket = (T0 + 20 * MIN) // (5 * MIN) * (5 * MIN)  # 5m buckets align to the epoch: B17

    forming = await ex.fetch_ohlcv(SYMBOL, "5m", since=bucket)
    ex.advance(3)  # the clock passes the end of the B22..B26 bucket (the file ends at B23)
    rows = await ex.fetch_ohlcv(SYMBOL, "5m", since=bucket)

    assert bucket == T0 + 17 * MIN
    assert forming == [[bucket, 100.0, 101.0, 98.0, 99.0, 4100.0]]  # B17..B21; B22.. not done
    assert rows == [
        [bucket, 100.0, 101.0, 98.0, 99.0, 4100.0],
        [bucket + 5 * MIN, 99.0, 102.0, 97.0, 101.0, 2000.0],  # B22, B23
    ]

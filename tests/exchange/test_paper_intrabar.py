"""Paper trading at once: with the wall clock, a market order fills after the configured
latency at the bar's price at that moment (a path through the bar's OHLC), not at the next
bar's open; backtests (the manual clock) keep next-open fills."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from omegafarm.exchange.paper import BookSettings, PaperExchange, PaperSettings, write_candles
from omegafarm.exchange.paper._intrabar import intrabar_price

MIN = 60_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % MIN
NO_SPREAD = BookSettings(spread_floor_bps=0, spread_sigma_mult=0, level_volume_fraction=100.0)


class WallClock:
    """The wall clock the exchange reads (seconds), moved by the test."""

    def __init__(self) -> None:
        self.now_s = 1_000.0

    def __call__(self) -> float:
        return self.now_s


def _exchange(tmp_path: Path, wall: WallClock, **overrides: object) -> PaperExchange:
    rows = [(T0 + i * MIN, 100.0, 100.5, 99.5, 100.0, 1000.0) for i in range(30)]
    rows.append((T0 + 30 * MIN, 100.0, 110.0, 95.0, 105.0, 1000.0))  # the bar we trade in
    rows += [(T0 + i * MIN, 200.0, 201.0, 199.0, 200.0, 1000.0) for i in range(31, 40)]
    write_candles(tmp_path, "TST/USDT", "1m", rows)
    fields: dict[str, object] = {
        "source": "replay",
        "replay_path": tmp_path,
        "clock": "wall",
        "warmup_bars": 30,
        "perpetuals": False,
        "latency_ms": 5_000,
        "book": NO_SPREAD,
        "initial_balances": {"USDT": Decimal(10_000)},
    }
    settings = PaperSettings.model_validate({**fields, **overrides})
    return PaperExchange(settings, clock_s=wall)


async def test_wall_clock_market_order_fills_after_the_latency_at_the_intrabar_price(
    tmp_path: Path,
) -> None:
    clock = WallClock()
    ex = _exchange(tmp_path, clock)
    clock.now_s += 15  # 15 s into the bar that opened at T0 + 30 min
    order = await ex.create_order("TST/USDT", "market", "buy", 1.0)
    assert order["status"] == "open"

    clock.now_s += 4  # 19 s: the order is still on its way (5 s latency)
    assert (await ex.fetch_order(order["id"]))["status"] == "open"

    clock.now_s += 2  # 21 s: it reached the book at 20 s
    filled = await ex.fetch_order(order["id"])
    assert filled["status"] == "closed"
    assert filled["lastTradeTimestamp"] == T0 + 30 * MIN + 20_000
    expected = intrabar_price(100.0, 110.0, 95.0, 105.0, 20 / 60)  # O -> L -> H -> C
    assert abs(expected - 98.3333) < 1e-3
    assert abs(filled["average"] - expected) < 0.01  # no spread: the path price, to a tick
    assert 95.0 <= filled["average"] <= 110.0


async def test_next_open_fills_stay_available_with_the_wall_clock(tmp_path: Path) -> None:
    clock = WallClock()
    ex = _exchange(tmp_path, clock, market_fills="next_open")
    clock.now_s += 15
    order = await ex.create_order("TST/USDT", "market", "buy", 1.0)
    clock.now_s += 21  # past the arrival, still inside the bar: no fill before the next open
    assert (await ex.fetch_order(order["id"]))["status"] == "open"
    clock.now_s += 30  # the next bar (open 200) has opened
    filled = await ex.fetch_order(order["id"])
    assert filled["status"] == "closed"
    assert filled["average"] >= 200.0


async def test_manual_clock_keeps_next_open_fills(tmp_path: Path) -> None:
    ex = _exchange(tmp_path, WallClock(), clock="manual")
    ex.step_to(ex.milliseconds() + 15_000)
    order = await ex.create_order("TST/USDT", "market", "buy", 1.0)
    ex.step_to(ex.milliseconds() + 30_000)  # past the arrival, inside the bar
    assert (await ex.fetch_order(order["id"]))["status"] == "open"
    ex.advance()
    assert (await ex.fetch_order(order["id"]))["average"] >= 200.0


prices = st.floats(min_value=0.01, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(o=prices, c=prices, up=prices, down=prices, f=st.floats(min_value=0.0, max_value=1.0))
def test_the_intrabar_path_starts_at_the_open_ends_at_the_close_and_stays_in_the_range(
    o: float, c: float, up: float, down: float, f: float
) -> None:
    high, low = max(o, c) + up, max(0.0, min(o, c) - down)
    price = intrabar_price(o, high, low, c, f)
    assert low - 1e-9 * high <= price <= high * (1 + 1e-9)
    assert intrabar_price(o, high, low, c, 0.0) == o
    assert abs(intrabar_price(o, high, low, c, 1.0) - c) <= 1e-9 * high

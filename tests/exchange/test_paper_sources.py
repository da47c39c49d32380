"""Market sources of the paper exchange: seeded synthetic markets and replayed real candles."""

from __future__ import annotations

import asyncio
import csv
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from omegafarm.core.errors import ConfigError
from omegafarm.exchange.paper import PaperExchange, PaperSettings, SyntheticSource, write_candles

START = 1_704_067_200_000
DAY_BARS = 1440


def synthetic(seed: int, symbols: list[str]) -> SyntheticSource:
    return SyntheticSource(symbols, seed, "1m", START)


def test_synthetic_market_is_reproducible_with_a_seed() -> None:
    one = synthetic(7, ["BTC/USDT", "ETH/USDT"]).candles("ETH/USDT", START + 3000 * 60_000)
    two = synthetic(7, ["BTC/USDT", "ETH/USDT"]).candles("ETH/USDT", START + 3000 * 60_000)
    other = synthetic(8, ["BTC/USDT", "ETH/USDT"]).candles("ETH/USDT", START + 3000 * 60_000)

    assert np.array_equal(one.close, two.close) and np.array_equal(one.volume, two.volume)
    assert not np.array_equal(one.close, other.close)


def test_adding_a_symbol_does_not_change_the_others() -> None:
    alone = synthetic(7, ["SOL/USDT"]).candles("SOL/USDT", START + 2000 * 60_000)
    with_more = synthetic(7, ["BTC/USDT", "SOL/USDT", "XRP/USDT"]).candles(
        "SOL/USDT", START + 2000 * 60_000
    )

    assert np.array_equal(alone.close, with_more.close)


def test_generation_in_steps_equals_generation_at_once() -> None:
    stepped = synthetic(3, ["BTC/USDT"])
    for day in range(1, 4):
        stepped.candles("BTC/USDT", START + day * DAY_BARS * 60_000)
    at_once = synthetic(3, ["BTC/USDT"]).candles("BTC/USDT", START + 3 * DAY_BARS * 60_000)

    got = stepped.candles("BTC/USDT", START + 3 * DAY_BARS * 60_000)
    assert np.array_equal(got.close[: len(at_once)], at_once.close)


def test_synthetic_candles_look_like_a_crypto_market() -> None:
    c = synthetic(11, ["BTC/USDT"]).candles("BTC/USDT", START + 30 * DAY_BARS * 60_000)
    r = np.diff(np.log(c.close))
    annual_vol = float(r.std() * np.sqrt(365 * DAY_BARS))
    kurtosis = float(((r - r.mean()) ** 4).mean() / r.var() ** 2)
    r2 = r * r
    clustering = float(np.corrcoef(r2[:-1], r2[1:])[0, 1])

    assert 20_000 < c.close[0] < 60_000  # a BTC-like price level
    assert 0.35 < annual_vol < 0.8  # configured 55 %
    assert kurtosis > 4  # fat tails from jumps and GARCH (normal: 3)
    assert clustering > 0.03  # volatility clusters
    assert np.all(c.high >= np.maximum(c.open, c.close))
    assert np.all(c.low <= np.minimum(c.open, c.close))
    assert np.all(c.volume > 0)
    assert np.all(np.diff(c.ts) == 60_000)


async def _scripted_trades(seed: int) -> list[tuple[str, float, float]]:
    settings = PaperSettings(
        clock="manual",
        seed=seed,
        symbols=["BTC/USDT", "ETH/USDT"],
        initial_balances={"USDT": Decimal(100_000), "BTC": Decimal(1)},
    )
    ex = PaperExchange(settings)
    for i in range(30):
        last = (await ex.fetch_ticker("ETH/USDT"))["last"]
        await ex.create_order("ETH/USDT", "limit", "buy", 0.1, last * 0.999)
        await ex.create_order("BTC/USDT", "market", "buy" if i % 2 else "sell", 0.001)
        ex.advance()
    return [(t["order"], t["price"], t["amount"]) for t in await ex.fetch_my_trades()]


async def test_matching_is_deterministic_given_a_seed() -> None:
    first, second, other = (
        await _scripted_trades(5),
        await _scripted_trades(5),
        await _scripted_trades(6),
    )

    assert len(first) >= 30
    assert first == second
    assert first != other


def _csv_rows(path: Path) -> list[list[float]]:
    with path.open(encoding="utf-8") as fh:
        return [[float(x) for x in row] for row in list(csv.reader(fh))[1:]]


async def test_replay_of_real_candles_serves_them_unchanged(ohlcv_dir: Path) -> None:
    settings = PaperSettings(
        source="replay",
        clock="manual",
        replay_path=ohlcv_dir,
        timeframe="5m",
        symbols=["ETH/BTC"],
        warmup_bars=100,
        initial_balances={"BTC": Decimal(1)},
    )
    ex = PaperExchange(settings)
    rows = _csv_rows(ohlcv_dir / "ETH_BTC-5m.csv")

    candles = await ex.fetch_ohlcv("ETH/BTC", "5m", since=int(rows[0][0]), limit=100)

    assert "ETH/BTC" in ex.markets and "ETH/BTC:BTC" in ex.markets
    assert candles == [[int(r[0]), *r[1:]] for r in rows[:100]]
    assert ex.milliseconds() == int(rows[100][0])


def test_replay_folder_plays_the_timeframe_most_files_have(ohlcv_dir: Path) -> None:
    ex = PaperExchange(PaperSettings(source="replay", clock="manual", replay_path=ohlcv_dir))
    files = sorted(p.name for p in ohlcv_dir.glob("*-5m.csv"))

    spot = [s for s in ex.symbols if ":" not in s]
    assert ex.timeframe == "5m"
    assert len(spot) == len(files) >= 10
    assert "XRP/ETH" in spot and "ETH/BTC:BTC" in ex.symbols


async def test_replayed_limit_order_fills_on_the_first_real_bar_trading_through(
    ohlcv_dir: Path,
) -> None:
    settings = PaperSettings(
        source="replay",
        clock="manual",
        replay_path=ohlcv_dir / "ETH_BTC-5m.csv",
        warmup_bars=100,
        initial_balances={"BTC": Decimal(1)},
    )
    ex = PaperExchange(settings)
    rows = _csv_rows(ohlcv_dir / "ETH_BTC-5m.csv")
    price = float(ex.price_to_precision("ETH/BTC", rows[100][1] * 0.99))
    expected = next(i for i in range(100, len(rows)) if rows[i][3] < price)
    order = await ex.create_order("ETH/BTC", "limit", "buy", 0.5, price)

    ex.step_to(int(rows[expected][0]))  # every bar before `expected` has closed
    before = await ex.fetch_order(order["id"])
    ex.advance()
    after = await ex.fetch_order(order["id"])

    assert before["filled"] == 0.0
    assert after["status"] == "closed" and after["average"] == price
    assert after["trades"][0]["timestamp"] == int(rows[expected][0])
    assert ex.balance_of("ETH") == (Decimal("0.5"), Decimal(0))


async def test_golden_run_on_real_eth_btc_candles(ohlcv_dir: Path) -> None:
    """Pins the whole engine's output on real data: any change to fills shows up here."""
    settings = PaperSettings(
        source="replay",
        clock="manual",
        replay_path=ohlcv_dir / "ETH_BTC-5m.csv",
        warmup_bars=100,
        initial_balances={"BTC": Decimal(2), "ETH": Decimal(10)},
    )
    ex = PaperExchange(settings)
    for step in range(80):  # every 2 hours: a market order and a fresh pair of limit orders
        for order in await ex.fetch_open_orders("ETH/BTC"):
            await ex.cancel_order(order["id"], "ETH/BTC")
        last = (await ex.fetch_ticker("ETH/BTC"))["last"]
        await ex.create_order("ETH/BTC", "market", "buy" if step % 2 == 0 else "sell", 2.0)
        await ex.create_order("ETH/BTC", "limit", "buy", 1.0, last * 0.997)
        await ex.create_order("ETH/BTC", "limit", "sell", 1.0, last * 1.003)
        ex.advance(24)
    trades = await ex.fetch_my_trades()

    assert ex.balance_of("BTC") == (Decimal("2.18319839921"), Decimal(0))
    assert ex.balance_of("ETH") == (Decimal(8), Decimal(0))
    assert (len(trades), sum(t["takerOrMaker"] == "maker" for t in trades)) == (224, 137)


async def test_run_flat_out_plays_a_replay_to_its_end(tmp_path: Path) -> None:
    rows = [(START + i * 60_000, 10.0, 11.0, 9.0, 10.0, 5.0) for i in range(50)]
    write_candles(tmp_path, "AAA/USDT", "1m", rows)
    ex = PaperExchange(
        PaperSettings(source="replay", clock="manual", replay_path=tmp_path, warmup_bars=5)
    )

    await asyncio.wait_for(ex.run(speed=0), timeout=30)

    assert ex.finished
    assert ex.milliseconds() == START + 50 * 60_000
    assert len(await ex.fetch_ohlcv("AAA/USDT", "1m", limit=1000)) == 50


class FakeWallClock:
    """Wall-clock seconds read from a script; sets ``stop`` when the last one is read."""

    def __init__(self, readings: list[float], stop: asyncio.Event | None = None) -> None:
        self.readings = readings
        self.stop = stop
        self.now = readings[0]

    def __call__(self) -> float:
        if self.readings:
            self.now = self.readings.pop(0)
        if not self.readings and self.stop is not None:
            self.stop.set()
        return self.now


async def test_run_in_accelerated_time_follows_the_injected_wall_clock(tmp_path: Path) -> None:
    rows = [(START + i * 60_000, 10.0, 11.0, 9.0, 10.0, 5.0) for i in range(50)]
    write_candles(tmp_path, "AAA/USDT", "1m", rows)
    stop = asyncio.Event()
    clock = FakeWallClock([0.0, 100.0, 102.0], stop)  # build, run starts, 2 wall seconds later
    settings = PaperSettings(source="replay", clock="manual", replay_path=tmp_path, warmup_bars=5)
    ex = PaperExchange(settings, clock_s=clock)

    await asyncio.wait_for(ex.run(speed=60.0, stop=stop), timeout=30)

    assert ex.milliseconds() == START + 5 * 60_000 + 120_000  # 2 s x 60 = 2 bars of 1m


async def test_wall_clock_mode_catches_up_on_the_next_call() -> None:
    clock = FakeWallClock([1_000_000.0])
    settings = PaperSettings(clock="wall", speed=1.0, symbols=["BTC/USDT"], warmup_bars=10)
    ex = PaperExchange(settings, clock_s=clock)
    first = await ex.fetch_ohlcv("BTC/USDT", "1m")

    clock.now += 180.0  # three minutes of wall time
    later = await ex.fetch_ohlcv("BTC/USDT", "1m")

    assert ex.milliseconds() == 1_000_180_000  # simulated now follows the wall clock
    assert first[-1][0] == 999_900_000  # the last 1m bar closed by "now" (1e9 ms)
    assert len(later) == len(first) + 3 == 13


async def test_replay_reads_parquet_like_csv(ohlcv_dir: Path, tmp_path: Path) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    pq.write_table(pacsv.read_csv(ohlcv_dir / "XRP_ETH-5m.csv"), tmp_path / "XRP_ETH-5m.parquet")
    parquet = PaperExchange(
        PaperSettings(source="replay", clock="manual", replay_path=tmp_path, timeframe="5m")
    )
    csv_ex = PaperExchange(
        PaperSettings(source="replay", clock="manual", replay_path=ohlcv_dir / "XRP_ETH-5m.csv")
    )

    assert parquet.symbols == ["XRP/ETH", "XRP/ETH:ETH"]
    assert await parquet.fetch_ohlcv("XRP/ETH", "5m") == await csv_ex.fetch_ohlcv("XRP/ETH", "5m")


def test_candle_file_without_a_volume_column_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "AAA_USDT-1m.csv").write_text("timestamp,open,high,low,close\n1,1,1,1,1\n")

    with pytest.raises(ConfigError, match="volume"):
        PaperExchange(PaperSettings(source="replay", clock="manual", replay_path=tmp_path))


def test_replay_without_matching_files_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        PaperExchange(PaperSettings(source="replay", clock="manual", replay_path=tmp_path))

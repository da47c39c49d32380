"""fetch_ohlcv pages through history, returns gap-free deduplicated candles, and caches them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from omegafarm.exchange.ohlcv_cache import OhlcvCache, dedupe, fill_gaps
from tests.exchange._binance import HOUR_MS, T0_MS, MiniBinance, btc_usdt_market
from tests.exchange._replay import replay_service

MARKETS = {"BTC/USDT": btc_usdt_market()}


async def test_history_is_paged_gap_free_and_deduplicated(tmp_path: Path) -> None:
    exchange = MiniBinance(bars=400, missing=(120, 121), overlap=True)
    async with (
        exchange.server,
        replay_service(
            "binance", exchange.server, tmp_path, markets=MARKETS, ohlcv_page_limit=100
        ) as service,
    ):
        candles = await service.fetch_ohlcv("BTC/USDT", "1h", since=T0_MS + 1, limit=300)

    requests = exchange.server.count("GET", "/klines")
    assert requests >= 3  # 300 candles at 100 per page
    assert candles.shape == (300, 6)
    assert candles.dtype == np.float64
    assert candles[0, 0] == T0_MS + HOUR_MS  # since is rounded up to the next bar
    assert np.all(np.diff(candles[:, 0]) == HOUR_MS)  # no gap, no duplicate
    hole = candles[candles[:, 0] == T0_MS + 120 * HOUR_MS][0]
    before = candles[candles[:, 0] == T0_MS + 119 * HOUR_MS][0]
    assert hole[1] == hole[2] == hole[3] == hole[4] == before[4]  # flat at the previous close
    assert hole[5] == 0.0


async def test_repeat_range_is_served_from_the_cache_without_a_request(tmp_path: Path) -> None:
    exchange = MiniBinance(bars=300)
    async with exchange.server:
        async with replay_service("binance", exchange.server, tmp_path, markets=MARKETS) as svc:
            first = await svc.fetch_ohlcv("BTC/USDT", "1h", since=T0_MS, limit=200)
            calls = len(exchange.server.requests)
            again = await svc.fetch_ohlcv("BTC/USDT", "1h", since=T0_MS, limit=200)
            inside = await svc.fetch_ohlcv("BTC/USDT", "1h", since=T0_MS + 50 * HOUR_MS, limit=20)
            assert len(exchange.server.requests) == calls
        # A new service (a new process) reads the same SQLite file.
        async with replay_service("binance", exchange.server, tmp_path, markets=MARKETS) as svc:
            reopened = await svc.fetch_ohlcv("BTC/USDT", "1h", since=T0_MS, limit=200)
        assert len(exchange.server.requests) == calls
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, reopened)
    np.testing.assert_array_equal(inside, first[50:70])


async def test_extending_a_cached_range_fetches_only_the_new_part(tmp_path: Path) -> None:
    exchange = MiniBinance(bars=300)
    async with (
        exchange.server,
        replay_service("binance", exchange.server, tmp_path, markets=MARKETS) as service,
    ):
        await service.fetch_ohlcv("BTC/USDT", "1h", since=T0_MS, limit=100)
        longer = await service.fetch_ohlcv("BTC/USDT", "1h", since=T0_MS, limit=150)
    starts = [int(r.param("startTime") or 0) for r in exchange.server.requests]
    assert starts == [T0_MS, T0_MS + 100 * HOUR_MS]
    assert len(longer) == 150


async def test_range_past_the_end_of_history_is_remembered_as_empty(tmp_path: Path) -> None:
    exchange = MiniBinance(bars=50)
    async with (
        exchange.server,
        replay_service("binance", exchange.server, tmp_path, markets=MARKETS) as service,
    ):
        first = await service.fetch_ohlcv("BTC/USDT", "1h", since=T0_MS, limit=80)
        calls = len(exchange.server.requests)
        second = await service.fetch_ohlcv("BTC/USDT", "1h", since=T0_MS, limit=80)
    assert len(first) == len(second) == 50
    assert len(exchange.server.requests) == calls


async def test_latest_candles_take_one_request(tmp_path: Path) -> None:
    exchange = MiniBinance(bars=100)
    async with (
        exchange.server,
        replay_service("binance", exchange.server, tmp_path, markets=MARKETS) as service,
    ):
        latest = await service.fetch_ohlcv("BTC/USDT", "1h", limit=10)
    assert len(exchange.server.requests) == 1
    assert latest[-1, 0] == T0_MS + 99 * HOUR_MS
    assert len(latest) == 10


def test_dedupe_keeps_one_row_per_timestamp_in_order() -> None:
    rows = np.array([[3, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1], [3, 2, 2, 2, 2, 2]], dtype=float)
    out = dedupe(rows)
    assert out[:, 0].tolist() == [1, 3]
    assert out[1, 1] == 2  # the later duplicate wins


def test_fill_gaps_inserts_flat_bars() -> None:
    rows = np.array([[0, 1, 2, 0.5, 1.5, 3], [20, 2, 3, 1, 2.5, 4]], dtype=float)
    out = fill_gaps(rows, 10)
    assert out[:, 0].tolist() == [0, 10, 20]
    assert out[1, 1:].tolist() == [1.5, 1.5, 1.5, 1.5, 0.0]


def test_coverage_merges_and_reports_holes(tmp_path: Path) -> None:
    cache = OhlcvCache(tmp_path / "c.sqlite")
    key = ("x", "A/B", "1m", "{}")
    cache.add_coverage(key, 0, 10)
    cache.add_coverage(key, 10, 20)
    cache.add_coverage(key, 30, 40)
    assert cache.uncovered(key, 0, 50) == [(20, 30), (40, 50)]
    assert cache.uncovered(key, 5, 15) == []
    cache.close()

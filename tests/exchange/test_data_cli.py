"""``omega data download``: paged history into the candle cache, CSV/Parquet out, clear errors."""

from __future__ import annotations

import asyncio
import csv
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from omegafarm.cli import app
from omegafarm.exchange.history import parse_when_ms
from omegafarm.exchange.testing import RecordedRequest, Reply
from tests.exchange._binance import HOUR_MS, T0_MS, MiniBinance
from tests.exchange.test_shared_cache import SPOT_INFO, btc_usdt_symbol_info

MINUTE_MS = 60_000


def read_csv(path: Path) -> tuple[list[str], np.ndarray]:
    """Header and rows of a downloaded CSV."""
    with path.open() as handle:
        rows = list(csv.reader(handle))
    return rows[0], np.array(rows[1:], dtype=np.float64)


class BinanceWithMarkets(MiniBinance):
    """MiniBinance's klines plus the exchangeInfo ccxt loads before its first klines request."""

    async def handle(self, request: RecordedRequest) -> Reply:
        """Markets (spot BTC/USDT, no futures), then klines and orders as MiniBinance."""
        if request.path == SPOT_INFO:
            symbols = [btc_usdt_symbol_info()]
            return Reply({"timezone": "UTC", "serverTime": 1, "symbols": symbols})
        if request.path.endswith("exchangeInfo"):
            return Reply({"timezone": "UTC", "serverTime": 1, "symbols": []})
        return await super().handle(request)


def paper_args(tmp_path: Path, out: Path, *, timeframe: str = "5m") -> list[str]:
    """A download of the paper exchange's recent history (it keeps a few hours)."""
    now_ms = int(time.time() * 1000)
    since, until = now_ms - 4 * 60 * MINUTE_MS, now_ms - 60 * MINUTE_MS
    return [
        "data", "download", "--exchange", "paper", "--symbol", "BTC/USDT",
        "--timeframe", timeframe, "--since", str(since), "--until", str(until),
        "--cache", str(tmp_path / "candles.sqlite"), "--out", str(out),
    ]  # fmt: skip


def test_paper_download_writes_csv_and_a_second_run_asks_the_exchange_nothing(
    cli: CliRunner, tmp_path: Path
) -> None:
    first = cli.invoke(app, paper_args(tmp_path, tmp_path / "a.csv"))
    second = cli.invoke(app, paper_args(tmp_path, tmp_path / "b.parquet"))

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert "exchange requests: 0" not in first.output
    assert "exchange requests: 0" in second.output
    header, rows = read_csv(tmp_path / "a.csv")
    assert header == ["timestamp", "open", "high", "low", "close", "volume"]
    assert 30 <= len(rows) <= 37  # three hours of 5m bars (the ends are rounded to bars)
    assert np.all(np.diff(rows[:, 0]) == 5 * MINUTE_MS)  # gap-free, no duplicate
    table = pq.read_table(tmp_path / "b.parquet")
    assert table.column_names == header
    assert str(table.schema.field("timestamp").type) == "int64"
    parquet = np.column_stack([table.column(n).to_numpy().astype(np.float64) for n in header])
    np.testing.assert_array_equal(parquet, rows)  # the cached run gives the same candles


async def test_loopback_binance_download_pages_then_serves_the_repeat_from_the_cache(
    cli: CliRunner, tmp_path: Path
) -> None:
    venue = BinanceWithMarkets(bars=300, missing=(120,))
    args = [
        "data", "download", "--exchange", "binance", "--symbol", "BTC/USDT",
        "--timeframe", "1h", "--since", str(T0_MS), "--until", str(T0_MS + 250 * HOUR_MS),
        "--cache", str(tmp_path / "candles.sqlite"),
    ]  # fmt: skip
    async with venue.server:
        env = {"OMEGA_EXCHANGE__API_BASE_URL": venue.server.url, "OMEGA_REDIS__URL": ""}
        env["OMEGA_EXCHANGE__OHLCV_PAGE_LIMIT"] = "100"
        first = await asyncio.to_thread(
            cli.invoke, app, [*args, "--out", str(tmp_path / "a.csv")], env=env
        )
        klines_first = venue.server.count("GET", "/klines")
        requests_first = len(venue.server.requests)
        second = await asyncio.to_thread(
            cli.invoke, app, [*args, "--out", str(tmp_path / "b.csv")], env=env
        )

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert klines_first == 3  # 250 bars at 100 a page
    assert len(venue.server.requests) == requests_first  # the repeat made no request at all
    assert "exchange requests: 0" in second.output
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    _, rows = read_csv(tmp_path / "a.csv")
    assert len(rows) == 250
    assert rows[0, 0] == T0_MS
    assert rows[0, 1] == 100.0  # MiniBinance's first open
    assert np.all(np.diff(rows[:, 0]) == HOUR_MS)
    assert rows[120, 5] == 0.0  # the missing bar is filled flat with no volume
    assert rows[120, 1] == rows[119, 4]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--exchange", "nosuch", "--since", "2024-01-01"], "'nosuch' is neither 'paper'"),
        (["--exchange", "paper", "--since", "2024-13-01"], "--since '2024-13-01' is not a date"),
        (["--exchange", "paper", "--since", "2024-01-01", "--timeframe", "7x"], "no timeframe"),
        (["--exchange", "paper", "--since", "2024-01-01", "--out", "x.txt"], ".csv or .parquet"),
        (["--exchange", "paper", "--since", "2024-01-02", "--until", "2024-01-01"], "nothing to"),
    ],
    ids=["unknown-exchange", "bad-date", "bad-timeframe", "bad-output", "empty-range"],
)
def test_user_errors_are_one_line_and_exit_2(
    cli: CliRunner, tmp_path: Path, args: list[str], message: str
) -> None:
    cache = ["--cache", str(tmp_path / "candles.sqlite")]
    result = cli.invoke(app, ["data", "download", "--symbol", "BTC/USDT", *args, *cache])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())  # rich may wrap a long line
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("text", "expected_ms"),
    [
        ("2024-01-31", 1_706_659_200_000),
        ("2024-01-31T12:00", 1_706_702_400_000),
        ("2024-01-31T14:00+02:00", 1_706_702_400_000),
        ("2024-01-31T12:00:00Z", 1_706_702_400_000),
        ("1706659200000", 1_706_659_200_000),
    ],
)
def test_dates_are_utc_unless_a_zone_is_given(text: str, expected_ms: int) -> None:
    assert parse_when_ms(text) == expected_ms

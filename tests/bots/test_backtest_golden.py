"""Golden test: the SMA crossover on real ETH/BTC 5m candles against a plain-numpy reference."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from omegafarm.bots.backtest import BacktestConfig, run_backtest
from omegafarm.bots.strategies import SmaCross
from omegafarm.exchange.paper import BookSettings

NO_SLIPPAGE = BookSettings(spread_floor_bps=0, spread_sigma_mult=0, level_volume_fraction=1e9)
FAST, SLOW = 10, 30

# Hand-checked against the CSV (rows are 1-based line numbers): at the close of the bar opening
# 1515575100000 (line 52) SMA(10) = 0.0953617 rose above SMA(30) = 0.0950803, having been below
# it (0.0950792 < 0.0950972) one bar earlier; the buy fills at the open of line 53,
# 0.09633375. The cross back down fills at the open of line 62 (1515578100000), 0.0913999.
GOLDEN_FIRST_TRADES = [
    (1515575400000, 0.09633375, 1515578100000, 0.0913999),
    (1515584700000, 0.095495, 1515597300000, 0.09599898),
    (1515615300000, 0.09074, 1515620700000, 0.087885),
]


def reference_trades(path: Path) -> list[tuple[int, float, int, float]]:
    """Crossovers of SMAs computed with np.convolve; fills at the next bar's open."""
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    ts, opens, close = data[:, 0].astype(np.int64), data[:, 1], data[:, 4]

    def moving_average(n: int) -> np.ndarray:
        out = np.full(close.shape, np.nan)
        out[n - 1 :] = np.convolve(close, np.ones(n) / n, mode="valid")
        return out

    fast, slow = moving_average(FAST), moving_average(SLOW)
    up = np.zeros(close.shape, bool)
    down = np.zeros(close.shape, bool)
    up[1:] = (fast[:-1] < slow[:-1]) & (fast[1:] > slow[1:])
    down[1:] = (slow[:-1] < fast[:-1]) & (slow[1:] > fast[1:])
    trades, entry = [], None
    for i in range(len(close) - 1):
        if up[i] and entry is None:
            entry = (int(ts[i + 1]), float(opens[i + 1]))
        elif down[i] and entry is not None:
            trades.append((*entry, int(ts[i + 1]), float(opens[i + 1])))
            entry = None
    return trades


@pytest.fixture(scope="module")
def eth_btc(ohlcv_dir: Path) -> Path:
    return ohlcv_dir / "ETH_BTC-5m.csv"


def _run(path: Path, book: BookSettings) -> list[tuple[int, float, int, float]]:
    config = BacktestConfig(
        strategy=SmaCross,
        data=path,
        params={"fast": FAST, "slow": SLOW, "amount": 1.0},
        capital=Decimal(10),
        book=book,
    )
    result = run_backtest(config)
    return [
        (t.entry_ts_ms, float(t.entry_price), t.exit_ts_ms, float(t.exit_price))
        for t in result.ledger.trades
        if t.exit_ts_ms is not None and t.exit_price is not None
    ]


def test_sma_cross_trades_equal_the_numpy_reference_on_real_candles(eth_btc: Path) -> None:
    ours = _run(eth_btc, NO_SLIPPAGE)
    reference = reference_trades(eth_btc)
    assert len(ours) > 100
    assert ours == reference


def test_sma_cross_first_trades_match_the_pinned_golden_values(eth_btc: Path) -> None:
    assert _run(eth_btc, NO_SLIPPAGE)[:3] == GOLDEN_FIRST_TRADES


def test_slippage_makes_fills_worse_than_the_next_open_never_better(eth_btc: Path) -> None:
    ideal = reference_trades(eth_btc)
    slipped = _run(eth_btc, BookSettings())
    assert [(t[0], t[2]) for t in slipped] == [(t[0], t[2]) for t in ideal]
    assert all(s[1] > i[1] for s, i in zip(slipped, ideal, strict=True))  # buys pay up
    assert all(s[3] < i[3] for s, i in zip(slipped, ideal, strict=True))  # sells get less


def test_parquet_input_gives_the_same_trades_as_csv(eth_btc: Path, tmp_path: Path) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    parquet = tmp_path / "ETH_BTC-5m.parquet"
    pq.write_table(pacsv.read_csv(eth_btc), parquet)
    assert _run(parquet, NO_SLIPPAGE) == _run(eth_btc, NO_SLIPPAGE)

"""SMA crossover backtest: omegafarm's runner (paper matching engine) vs backtesting.py.

Both run the same rules on the same 100,000 one-minute candles (the paper exchange's seeded
synthetic market, prices rounded to the market tick): long 1 unit when SMA(10) crosses above
SMA(30), flat when it crosses back, market orders filled at the next bar's open, 0.1 % fee per
side, no spread. Both use the same SMA function. Prints bars/s of each, whether the closed trade
lists match (entry/exit time and price, size), and as its last line the JSON summary.

Timing: ROUNDS rounds, each timing one run of ours then one of backtesting.py; each engine's
best run counts. Interleaving matters on a shared machine: timing all of one engine's runs
before the other's lets a burst of someone else's load fall on one engine only.

Whole process (a second row): ``omega backtest`` on the same file (same rules: amount 1,
no spread, ``--fill none``, JSON report) against a script that loads the CSV with pandas and
runs backtesting.py, each a fresh interpreter, start-up and file reading included; best of
PROCESS_ROUNDS interleaved runs. Its ratio is baseline seconds over ours (higher is better).

Needs ``pip install backtesting`` (a bench-only dependency).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
import warnings
from decimal import Decimal
from pathlib import Path

import numpy as np

from omegafarm.bots.backtest import Backtest, BacktestConfig
from omegafarm.bots.feed import sma
from omegafarm.bots.strategies import SmaCross
from omegafarm.exchange.paper import BookSettings, ReplaySource, SyntheticSource, write_candles

N_BARS = 100_000
FAST, SLOW, FEE = 10, 30, 0.001
START_MS = 1_704_067_200_000
ROUNDS = 10  # interleaved rounds; each engine's best run counts (5 were too few here: the
# same deterministic run's CPU time varies by up to 30 % on this VM, so the best of 5 moved
# the ratio by about +-10 % between runs; 10 rounds about halve that spread)


def make_candles(folder: Path) -> Path:
    """100k seeded synthetic 1m candles, rounded to the tick the replay source will derive."""
    source = SyntheticSource(["BTC/USDT"], 7, "1m", START_MS)
    c = source.candles("BTC/USDT", START_MS + N_BARS * 60_000)
    n = N_BARS
    tick = 10.0 ** (math.floor(math.log10(float(np.median(c.close[:n])))) - 6)
    digits = max(0, -round(math.log10(tick)))
    cols = [np.round(x[:n], digits) for x in (c.open, c.high, c.low, c.close)]
    rows = [
        (int(c.ts[i]), float(cols[0][i]), float(cols[1][i]), float(cols[2][i]),
         float(cols[3][i]), float(c.volume[i]))
        for i in range(n)
    ]  # fmt: skip
    return write_candles(folder, "BTC/USDT", "1m", rows)


def run_ours(path: Path) -> tuple[float, list[tuple[int, int, float, float, float]]]:
    """Bars/s and closed trades (entry ms, exit ms, entry price, exit price, size)."""
    source = ReplaySource(path, "1m")
    config = BacktestConfig(
        strategy=SmaCross,
        data=path,
        params={"fast": FAST, "slow": SLOW, "amount": 1.0},
        capital=Decimal(10_000_000),
        taker_fee=Decimal(str(FEE)),
        maker_fee=Decimal(str(FEE)),
        book=BookSettings(spread_floor_bps=0, spread_sigma_mult=0, level_volume_fraction=1e9),
    )
    runner = Backtest(config, source)
    start = time.perf_counter()
    result = runner.run()
    elapsed = time.perf_counter() - start
    trades = [
        (t.entry_ts_ms, t.exit_ts_ms, float(t.entry_price), float(t.exit_price), float(t.amount))
        for t in result.ledger.trades
        if t.exit_ts_ms is not None and t.exit_price is not None
    ]
    return result.bars / elapsed, trades


def run_backtesting_py(path: Path) -> tuple[float, list[tuple[int, int, float, float, float]]]:
    """The same rules in backtesting.py."""
    import pandas as pd
    from backtesting import Backtest as BtBacktest
    from backtesting import Strategy as BtStrategy
    from backtesting.lib import crossover

    raw = pd.read_csv(path)
    df = pd.DataFrame(
        {
            "Open": raw["open"].to_numpy(),
            "High": raw["high"].to_numpy(),
            "Low": raw["low"].to_numpy(),
            "Close": raw["close"].to_numpy(),
            "Volume": raw["volume"].to_numpy(),
        },
        index=pd.to_datetime(raw["timestamp"], unit="ms"),
    )

    class SmaCrossBt(BtStrategy):  # type: ignore[misc]
        def init(self) -> None:
            self.fast = self.I(sma, self.data.Close, FAST)
            self.slow = self.I(sma, self.data.Close, SLOW)

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                if not self.position:
                    self.buy(size=1)
            elif crossover(self.slow, self.fast) and self.position:
                self.position.close()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = BtBacktest(df, SmaCrossBt, cash=10_000_000, commission=FEE)
        start = time.perf_counter()
        stats = bt.run()
        elapsed = time.perf_counter() - start
    tr = stats["_trades"]
    to_ms = lambda ts: int(pd.Timestamp(ts).value // 1_000_000)  # noqa: E731
    trades = [
        (to_ms(r.EntryTime), to_ms(r.ExitTime), float(r.EntryPrice), float(r.ExitPrice),
         float(r.Size))
        for r in tr.itertuples()
    ]  # fmt: skip
    return len(df) / elapsed, trades


PROCESS_ROUNDS = 3
BT_SCRIPT = """
import sys, warnings
import pandas as pd
from backtesting import Backtest, Strategy
from backtesting.lib import crossover

def sma(x, n):
    return pd.Series(x).rolling(n).mean().to_numpy()

class SmaCross(Strategy):
    def init(self):
        self.fast = self.I(sma, self.data.Close, 10)
        self.slow = self.I(sma, self.data.Close, 30)
    def next(self):
        if crossover(self.fast, self.slow):
            if not self.position:
                self.buy(size=1)
        elif crossover(self.slow, self.fast) and self.position:
            self.position.close()

raw = pd.read_csv(sys.argv[1])
df = pd.DataFrame({"Open": raw["open"].to_numpy(), "High": raw["high"].to_numpy(),
                   "Low": raw["low"].to_numpy(), "Close": raw["close"].to_numpy(),
                   "Volume": raw["volume"].to_numpy()},
                  index=pd.to_datetime(raw["timestamp"], unit="ms"))
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    stats = Backtest(df, SmaCross, cash=10_000_000, commission=0.001).run()
print(stats["# Trades"])
"""


def whole_process(path: Path) -> tuple[float, float]:
    """Best wall seconds of ``omega backtest`` and of the backtesting.py script."""
    script = path.parent / "bt_script.py"
    script.write_text(BT_SCRIPT)
    ours_cmd = [
        sys.executable, "-m", "omegafarm", "backtest", "--strategy", "sma_cross",
        "--data", str(path), "--param", f"fast={FAST}", "--param", f"slow={SLOW}",
        "--param", "amount=1", "--capital", "10000000", "--fee", str(FEE), "--fill", "none",
        "--json",
    ]  # fmt: skip
    base_cmd = [sys.executable, str(script), str(path)]
    best_ours = best_base = math.inf
    for _ in range(PROCESS_ROUNDS):
        for cmd, slot in ((ours_cmd, 0), (base_cmd, 1)):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            took = time.perf_counter() - start
            if slot == 0:
                best_ours = min(best_ours, took)
            else:
                best_base = min(best_base, took)
    return best_ours, best_base


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = make_candles(Path(tmp))
        ours_bps = base_bps = 0.0
        for _ in range(ROUNDS):
            bps, ours = run_ours(path)
            ours_bps = max(ours_bps, bps)
            bps, theirs = run_backtesting_py(path)
            base_bps = max(base_bps, bps)
        proc_ours, proc_base = whole_process(path)
    # backtesting.py stamps a fill with the bar it happens on, we with that bar's open time:
    # both are the open of the bar after the signal.
    same = ours == theirs
    first_diff = next(
        (i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), None
    )
    print(f"omegafarm     : {ours_bps:,.0f} bars/s, {len(ours)} closed trades")
    print(f"backtesting.py: {base_bps:,.0f} bars/s, {len(theirs)} closed trades")
    print(f"trade lists match: {same}" + ("" if same else f" (first difference at {first_diff})"))
    print(
        f"whole process : omega backtest {proc_ours:.2f} s, backtesting.py script "
        f"{proc_base:.2f} s ({proc_base / proc_ours:.2f}x)"
    )
    print(
        json.dumps(
            {
                "bench": "backtest_sma",
                "ours": round(ours_bps),
                "baseline": round(base_bps),
                "baseline_name": "backtesting.py 0.6 (same SMA rules, fees, 100k 1m bars)",
                "unit": "bars/s",
                "ratio": round(ours_bps / base_bps, 3),
                "better": "higher",
                "trades_match": same,
                "trades": len(ours),
                "process_ours_s": round(proc_ours, 3),
                "process_baseline_s": round(proc_base, 3),
                "process_ratio": round(proc_base / proc_ours, 3),
            }
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()

"""The README's grid, ``fast=5..20 slow=20..60`` (656 points, 615 valid) of the SMA crossover on
the real ETH/BTC 5m candles: points per second of ``omegafarm.bots.grid.run_grid`` against
backtesting.py's ``Backtest.optimize`` over the same grid with the same constraint.

Same rules on both sides: long 95 % of equity when SMA(fast) crosses above SMA(slow), flat on
the cross back, market orders at the next open (ours: ``fill="none"``), 0.1 % fee per side,
capital 100 BTC. Both use every core (ours: forked workers; backtesting.py: its own process
pool) and neither may reuse results: our result cache is off. Start-up of the worker pools is
included in both, data loading in neither (each loads the file first).

Also: seconds from Ctrl-C (SIGINT) to the exit of ``omega backtest --grid`` running that grid
on two workers (goal <= 2 s), and whether any worker survived it.

Run: python bench/backtest_grid.py [DATA_FILE]   (default ../shared/data/ohlcv/ETH_BTC-5m.csv)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from decimal import Decimal
from pathlib import Path

from backtesting import Strategy
from backtesting.lib import crossover

from omegafarm.bots.backtest import BacktestConfig, load_source
from omegafarm.bots.feed import sma
from omegafarm.bots.grid import parse_grid, run_grid
from omegafarm.bots.strategies import SmaCross
from omegafarm.exchange.paper import BookSettings

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "ohlcv" / "ETH_BTC-5m.csv"
GRID = "fast=5..20 slow=20..60"


def ours(path: Path) -> tuple[float, int]:
    base = BacktestConfig(
        strategy=SmaCross, data=path, params={"fraction": 0.95}, capital=Decimal(100),
        book=BookSettings(fill="none"),
    )  # fmt: skip
    load_source(path, None, None)
    start = time.perf_counter()
    rows = run_grid(base, parse_grid(GRID), cache=False)
    took = time.perf_counter() - start
    return took, sum(1 for r in rows if r.metrics is not None)


class SmaCrossBt(Strategy):  # type: ignore[misc]  # module level: optimize pickles it
    fast = 10
    slow = 30

    def init(self) -> None:
        self.a = self.I(sma, self.data.Close, self.fast)
        self.b = self.I(sma, self.data.Close, self.slow)

    def next(self) -> None:
        if crossover(self.a, self.b):
            if not self.position:
                self.buy(size=0.95)
        elif crossover(self.b, self.a) and self.position:
            self.position.close()


def backtesting_py(path: Path) -> tuple[float, int]:
    import pandas as pd
    from backtesting import Backtest

    raw = pd.read_csv(path)
    df = pd.DataFrame(
        {"Open": raw["open"].to_numpy(), "High": raw["high"].to_numpy(),
         "Low": raw["low"].to_numpy(), "Close": raw["close"].to_numpy(),
         "Volume": raw["volume"].to_numpy()},
        index=pd.to_datetime(raw["timestamp"], unit="ms"),
    )  # fmt: skip

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = Backtest(df, SmaCrossBt, cash=100, commission=0.001)
        start = time.perf_counter()
        _, heatmap = bt.optimize(
            fast=range(5, 21), slow=range(20, 61), constraint=lambda p: p.fast < p.slow,
            maximize="Sharpe Ratio", return_heatmap=True, max_tries=None,
        )  # fmt: skip
        took = time.perf_counter() - start
    return took, int(heatmap.shape[0])


def worker_pids(parent: int) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent and fields[0] != "Z":
                found.append(int(proc.name))
    return found


def stop_latency(path: Path) -> tuple[float, int]:
    """Seconds from SIGINT to the CLI's exit mid-grid, and how many workers outlived it."""
    with tempfile.TemporaryDirectory() as cache:
        proc = subprocess.Popen(
            [sys.executable, "-m", "omegafarm", "backtest", "--strategy", "sma_cross",
             "--data", str(path), "--grid", GRID, "--workers", "2"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "XDG_CACHE_HOME": cache},
        )  # fmt: skip
        workers: list[int] = []
        while len(workers) < 2 and proc.poll() is None:
            workers = worker_pids(proc.pid)
            time.sleep(0.02)
        time.sleep(2.0)  # let the grid get going
        start = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        took = time.perf_counter() - start
    time.sleep(0.5)
    return took, sum(1 for p in workers if _running(p))


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    base_s, base_n = backtesting_py(path)
    ours_s, ours_n = ours(path)
    ours_pps, base_pps = ours_n / ours_s, base_n / base_s
    stop_s, survivors = stop_latency(path)
    print(f"cores: {os.cpu_count()}, grid {GRID!r} on {path.name}")
    print(f"omegafarm run_grid       : {ours_n} points in {ours_s:.1f} s ({ours_pps:.1f}/s)")
    print(f"backtesting.py optimize  : {base_n} points in {base_s:.1f} s ({base_pps:.1f}/s)")
    print(f"Ctrl-C mid-grid: exit after {stop_s:.2f} s, {survivors} workers left (goal <= 2 s, 0)")
    print(
        json.dumps(
            {
                "bench": "backtest_grid",
                "ours": round(ours_pps, 2),
                "baseline": round(base_pps, 2),
                "baseline_name": "backtesting.py 0.6 Backtest.optimize, same grid and rules",
                "unit": "points/s",
                "ratio": round(ours_pps / base_pps, 3),
                "better": "higher",
                "ours_s": round(ours_s, 2),
                "baseline_s": round(base_s, 2),
                "sigint_to_exit_s": round(stop_s, 2),
                "workers_left": survivors,
            }
        )
    )


if __name__ == "__main__":
    main()

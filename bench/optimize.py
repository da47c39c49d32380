"""Parameter search throughput: ``omega optimize``'s trial loop vs backtesting.py's optimize.

Data: the 100,000 seeded synthetic one-minute candles of bench/backtest_sma.py. Rules: long 1
unit when SMA(fast) crosses above SMA(slow), flat when it crosses back, 0.1 % fee, no spread
(the same rules and fill model as that bench, where the trade lists are shown to match).

1. One process, the same evaluations: the grid fast in {5, 10, 15, 20} x slow in {30, 60}.
   Ours: the 8 parameter sets enqueued in an Optuna study whose journal lives on the embedded
   Redis, run by ``run_search`` (each trial a full backtest on the paper matching engine, its
   block statistics written to the journal). Baseline: ``Backtest.optimize`` on the same grid
   with its process pool replaced by one in-process worker. Setup (loading candles) is not
   timed for either. Metric: trials per second.
2. Scaling: 1, 2 and 4 processes joined on one study through Redis, each running the same
   ``run_search`` loop as ``omega optimize --join`` (random sampler, SCALE_TRIALS trials in
   all). Each loads the candles, then all start together (a barrier); throughput = trials /
   time from the start to the last process's end.

The machine has 2 cores shared with other work, so next to each scaling row the bench measures
what the machine gives more processes at that moment: the same number of pure-Python busy
loops, their work rate relative to one loop (2.0 = two free cores).
"""

from __future__ import annotations

import json
import tempfile
import time
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import redis

from backtest_sma import FEE, make_candles
from omegafarm.bots.backtest import BacktestConfig
from omegafarm.bots.feed import sma
from omegafarm.bots.optimize import Evaluator, OptimizeConfig, open_study, parse_space, run_search
from omegafarm.bots.strategies import SmaCross
from omegafarm.exchange.paper import BookSettings
from omegafarm.store import RedisSettings
from omegafarm.store.optuna_journal import journal_storage, study_client

FASTS, SLOWS = [5, 10, 15, 20], [30, 60]
SCALE_TRIALS = 16
SCALE_SPACE = "fast=5..30 slow=40..120"
FARM = "bench"


def _client(conn: dict[str, Any]) -> redis.Redis:
    """A blocking client of the bench's embedded server (each joined process makes its own)."""
    return redis.Redis(**conn)


def run_ours(path: Path, conn: dict[str, Any]) -> float:
    """Trials/s of the grid through the study on Redis, one process."""
    import optuna

    space = f"fast={','.join(map(str, FASTS))} slow={','.join(map(str, SLOWS))}"
    n = len(FASTS) * len(SLOWS)
    config = _config(path, f"grid-{time.time_ns()}", space, n)
    base = config.base
    evaluator = Evaluator(base, folds=1, blocks=16)  # loads the candles once
    study = open_study(config, journal_storage(_client(conn), FARM, config.study), join=False)
    for fast in FASTS:
        for slow in SLOWS:
            study.enqueue_trial({"fast": fast, "slow": slow})
    start = time.perf_counter()
    summary = run_search(config, study, evaluator)
    elapsed = time.perf_counter() - start
    done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert summary.ran == n
    assert len(done) == n
    return n / elapsed


def run_backtesting_py(path: Path) -> float:
    """Trials/s of ``Backtest.optimize`` on the same grid, one worker in this process."""
    from multiprocessing.dummy import Pool as ThreadPool

    import backtesting
    import pandas as pd
    from backtesting import Backtest as BtBacktest
    from backtesting import Strategy as BtStrategy
    from backtesting.lib import crossover

    raw = pd.read_csv(path)
    df = pd.DataFrame(
        {k.capitalize(): raw[k].to_numpy() for k in ("open", "high", "low", "close", "volume")},
        index=pd.to_datetime(raw["timestamp"], unit="ms"),
    )

    class SmaCrossBt(BtStrategy):  # type: ignore[misc]
        fast = 10
        slow = 30

        def init(self) -> None:
            self.f = self.I(sma, self.data.Close, self.fast)
            self.s = self.I(sma, self.data.Close, self.slow)

        def next(self) -> None:
            if crossover(self.f, self.s):
                if not self.position:
                    self.buy(size=1)
            elif crossover(self.s, self.f) and self.position:
                self.position.close()

    backtesting.Pool = lambda *a, **k: ThreadPool(1)  # one worker: the one-process comparison
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = BtBacktest(df, SmaCrossBt, cash=10_000_000, commission=FEE)
        start = time.perf_counter()
        _, heat = bt.optimize(fast=FASTS, slow=SLOWS, maximize="Sharpe Ratio", return_heatmap=True)
        elapsed = time.perf_counter() - start
    # optimize() re-runs the best combination at the end: that is one more evaluation.
    return (len(heat) + 1) / elapsed


def _config(path: Path, study: str, space: str, trials: int) -> OptimizeConfig:
    base = BacktestConfig(
        strategy=SmaCross, data=path, params={"amount": 1.0}, capital=Decimal(10_000_000),
        taker_fee=Decimal(str(FEE)), maker_fee=Decimal(str(FEE)),
        book=BookSettings(spread_floor_bps=0, spread_sigma_mult=0, level_volume_fraction=1e9),
    )  # fmt: skip
    return OptimizeConfig(
        base=base, space=parse_space(space), study=study, trials=trials, folds=1,
        sampler="random",
    )  # fmt: skip


def _scale_worker(path: Path, conn: dict[str, Any], study: str, barrier: Any) -> None:
    """One joined process: load the candles, wait for the others, then take trials."""
    import optuna

    config = _config(path, study, SCALE_SPACE, SCALE_TRIALS)
    evaluator = Evaluator(config.base, folds=1, blocks=16)
    loaded = optuna.load_study(
        study_name=study,
        storage=journal_storage(_client(conn), FARM, study),
        sampler=optuna.samplers.RandomSampler(),
    )
    barrier.wait()
    run_search(config, loaded, evaluator)


def run_scaling(path: Path, conn: dict[str, Any], processes: int) -> float:
    """Trials/s of ``processes`` processes joined on one study through Redis, timed from the
    moment all of them have loaded their candles to the last trial's end."""
    import multiprocessing as mp

    import optuna

    study = f"scale{processes}-{time.time_ns() % 10**9}"
    config = _config(path, study, SCALE_SPACE, SCALE_TRIALS)
    open_study(config, journal_storage(_client(conn), FARM, study), join=False)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(processes + 1)
    procs = [
        ctx.Process(target=_scale_worker, args=(path, conn, study, barrier))
        for _ in range(processes)
    ]
    for proc in procs:
        proc.start()
    barrier.wait(timeout=600)
    start = time.perf_counter()
    for proc in procs:
        proc.join(timeout=1800)
        if proc.exitcode:
            raise SystemExit(f"a joined process failed with exit code {proc.exitcode}")
    elapsed = time.perf_counter() - start
    loaded = optuna.load_study(
        study_name=study, storage=journal_storage(_client(conn), FARM, study)
    )
    done = loaded.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(done) == SCALE_TRIALS
    return SCALE_TRIALS / elapsed


def _busy(n: int = 10_000_000) -> None:
    total = 0
    for i in range(n):
        total += i


def cpu_ceiling(processes: int) -> float:
    """Work rate of ``processes`` pure-Python busy loops relative to one: what the machine
    gives right now to more processes (2.0 at 2 processes on 2 idle cores)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")

    def rate(p: int) -> float:
        procs = [ctx.Process(target=_busy) for _ in range(p)]
        start = time.perf_counter()
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
        return p / (time.perf_counter() - start)

    return rate(processes) / rate(1)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = make_candles(Path(tmp))
        settings = RedisSettings(data_dir=Path(tmp) / "valkey")
        with study_client(settings) as client:  # the embedded server, on a unix socket
            kw = client.connection_pool.connection_kwargs
            conn = {"unix_socket_path": kw["path"], "password": kw.get("password")}
            base = run_backtesting_py(path)
            ours = run_ours(path, conn)
            scaling: dict[str, Any] = {}
            ceiling: dict[str, float] = {}
            for processes in (1, 2, 4):
                scaling[str(processes)] = run_scaling(path, conn, processes)
                ceiling[str(processes)] = cpu_ceiling(processes)
    one = scaling["1"]
    print(f"1 process, {len(FASTS) * len(SLOWS)} evaluations on 100k bars: ours {ours:.3f} "
          f"trials/s, backtesting.py optimize {base:.3f} trials/s ({ours / base:.2f}x)")  # fmt: skip
    for p, rate in scaling.items():
        print(f"{p} joined process(es), {SCALE_TRIALS} trials: {rate:.3f} trials/s "
              f"({rate / one:.2f}x of 1; busy loops on this machine now: "
              f"{ceiling[p]:.2f}x)")  # fmt: skip
    print(
        json.dumps(
            {
                "bench": "optimize_trials_per_s",
                "ours": round(ours, 4),
                "baseline": round(base, 4),
                "baseline_name": "backtesting.py Backtest.optimize (same grid, one worker)",
                "unit": "trials/s",
                "ratio": round(ours / base, 3),
                "better": "higher",
                "scaling_trials_per_s": {k: round(v, 4) for k, v in scaling.items()},
                "scaling_ratio_2_vs_1": round(scaling["2"] / one, 3),
                "scaling_ratio_4_vs_1": round(scaling["4"] / one, 3),
                "cpu_ceiling_ratio": {k: round(v, 3) for k, v in ceiling.items()},
            }
        )
    )


if __name__ == "__main__":
    main()

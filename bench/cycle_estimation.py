"""Dominant cycle estimation: ours (sliding Hann periodogram) versus TA-Lib ``HT_DCPERIOD``.

Two numbers, both measured in this run:
* time for 1,000,000 points (best of 7, interleaved), with our default refresh step (the
  spectrum is recomputed every ``step`` bars, at most 65,536 spectra per call) and also with
  ``step=1`` (a spectrum at every bar) for reference;
* median microseconds of one incremental ``CycleTracker.update`` after 100,000 values;
* median period error on a period-40 sine plus unit Gaussian noise (N = 2,000, 20 seeds):
  |median(estimated period) - 40| / 40, and the median of |estimate - 40| / 40 per bar.

Both run on one core: TA-Lib is single-threaded, so BLAS is pinned to one thread here (set
before numpy loads); a multi-threaded BLAS on a loaded 2-core machine was 1.5-3x slower, not
faster, because its threads fight the other processes.

Run: ``python bench/cycle_estimation.py``. The last line is the JSON summary (ratio = our
time / HT_DCPERIOD time; lower is better).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy loads: compare one core with one core

import numpy as np  # noqa: E402  (after the thread pinning above)
import talib  # noqa: E402

from omegafarm.cosmic.cycles import CycleTracker, cycle_track  # noqa: E402

N_BIG = 1_000_000


def _best_time(fn: Callable[[], object], repeats: int = 7) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def timing() -> dict[str, float]:
    """Best-of-7 times on a 1,000,000-point random walk."""
    rng = np.random.default_rng(0)
    x = 1e4 + np.cumsum(rng.standard_normal(N_BIG))
    cycle_track(x)
    talib.HT_DCPERIOD(x)
    ours, ht = float("inf"), float("inf")
    for _ in range(7):  # interleave so load from other processes hits both alike
        ours = min(ours, _best_time(lambda: cycle_track(x), 1))
        ht = min(ht, _best_time(lambda: talib.HT_DCPERIOD(x), 1))
    every_bar = _best_time(lambda: cycle_track(x, step=1), 2)
    return {
        "ours_s": ours,
        "ht_s": ht,
        "ours_every_bar_s": every_bar,
        "step": float(cycle_track(x).step),
    }


def accuracy(seeds: int = 20) -> dict[str, float]:
    """Median period errors on period-40 sine + unit noise, N = 2,000."""
    err_med_ours, err_med_ht, err_bar_ours, err_bar_ht = [], [], [], []
    t = np.arange(2000, dtype=np.float64)
    for seed in range(seeds):
        x = np.sin(2 * np.pi * t / 40) + np.random.default_rng(seed).standard_normal(2000)
        ours = cycle_track(x, step=1).period
        ours = ours[np.isfinite(ours)]
        ht = talib.HT_DCPERIOD(x)[100:]
        err_med_ours.append(abs(np.median(ours) - 40) / 40)
        err_med_ht.append(abs(np.median(ht) - 40) / 40)
        err_bar_ours.append(np.median(np.abs(ours - 40)) / 40)
        err_bar_ht.append(np.median(np.abs(ht - 40)) / 40)
    return {
        "ours_error_of_median": float(np.median(err_med_ours)),
        "ht_error_of_median": float(np.median(err_med_ht)),
        "ours_median_abs_error": float(np.median(err_bar_ours)),
        "ht_median_abs_error": float(np.median(err_bar_ht)),
    }


def tracker_update_us(history: int = 100_000, measured: int = 2_000) -> float:
    """Median microseconds of one CycleTracker.update after ``history`` values."""
    rng = np.random.default_rng(1)
    x = (100 * np.exp(np.cumsum(0.002 * rng.standard_normal(history + measured)))).tolist()
    tracker = CycleTracker()
    for v in x[:history]:
        tracker.update(v)
    times = []
    for v in x[history:]:
        t0 = time.perf_counter()
        tracker.update(v)
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e6)


def main() -> None:
    """Print details, then the one-line JSON summary."""
    acc = accuracy()
    tim = timing()
    upd = tracker_update_us()
    print(f"incremental: CycleTracker.update after 100,000 values, median {upd:.1f} us")
    print(f"1,000,000 points: ours {tim['ours_s'] * 1e3:.1f} ms (step {tim['step']:.0f}), "
          f"every bar {tim['ours_every_bar_s'] * 1e3:.0f} ms, "
          f"HT_DCPERIOD {tim['ht_s'] * 1e3:.1f} ms")  # fmt: skip
    print(
        "period-40 sine + unit noise, N=2000, 20 seeds: error of the median period "
        f"ours {acc['ours_error_of_median']:.2%}, HT_DCPERIOD {acc['ht_error_of_median']:.2%}; "
        f"median per-bar error ours {acc['ours_median_abs_error']:.2%}, "
        f"HT_DCPERIOD {acc['ht_median_abs_error']:.2%}"
    )
    summary = {
        "bench": "cycle_estimation",
        "ours": round(tim["ours_s"], 5),
        "baseline": round(tim["ht_s"], 5),
        "baseline_name": "talib.HT_DCPERIOD (1,000,000 points)",
        "unit": "s",
        "ratio": round(tim["ours_s"] / tim["ht_s"], 3),
        "better": "lower",
        "step": int(tim["step"]),
        "tracker_update_us": round(upd, 1),
        "ours_every_bar_s": round(tim["ours_every_bar_s"], 4),
        "period40_error_of_median_ours": round(acc["ours_error_of_median"], 4),
        "period40_error_of_median_ht": round(acc["ht_error_of_median"], 4),
        "period40_median_abs_error_ours": round(acc["ours_median_abs_error"], 4),
        "period40_median_abs_error_ht": round(acc["ht_median_abs_error"], 4),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

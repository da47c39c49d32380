"""Shared limiter throughput: GCRA acquisitions per second with 1 and 4 processes.

Each acquisition is one Lua script call (one round trip). The baseline is the same GCRA script
called through a bare redis-py asyncio client (same server work, none of our wrapper) from the
same number of processes against the same embedded server, measured in this run. The budget is
set far above what is asked so that nothing waits: this measures the limiter's cost, not the limit.

Ours and the baseline alternate in ``rounds`` short runs and the median counts, so a change of
machine load during the run falls on both (on a shared machine one run of each, one after the
other, measured the load as much as the code). Each worker warms up first (connection, script
load) and reports its CPU time per acquisition, which moves less with load than the rate.
Run: python bench/ratelimit.py [seconds per run] [rounds]
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import redis.asyncio as raw_redis
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from omegafarm.store import RateSpec, RedisClient, RedisSettings
from omegafarm.store.ratelimit import GCRA_SCRIPT

WARM_UP = 50


async def _timed(acquire: Callable[[], Awaitable[object]], seconds: float) -> tuple[int, float]:
    """Acquisitions done in ``seconds`` (after a warm-up) and the CPU seconds they took."""
    for _ in range(WARM_UP):
        await acquire()
    count, cpu, end = 0, time.process_time(), time.perf_counter() + seconds
    while time.perf_counter() < end:
        await acquire()
        count += 1
    return count, time.process_time() - cpu


async def _ours(url: str, seconds: float) -> tuple[int, float]:
    client = RedisClient(
        RedisSettings(url=SecretStr(url), farm="bench"), metrics_registry=CollectorRegistry()
    )
    await client.initialize()
    spec = RateSpec(limit=1e9, period_s=1.0, burst=1e6)
    try:
        return await _timed(lambda: client.ratelimit_acquire("weight:bench", spec, 1.0), seconds)
    finally:
        await client.shutdown()


async def _raw(url: str, seconds: float) -> tuple[int, float]:
    """The same GCRA script through a bare redis-py client: same server work, no wrapper."""
    r = raw_redis.from_url(url)
    script = r.register_script(GCRA_SCRIPT)
    spec = RateSpec(limit=1e9, period_s=1.0, burst=1e6)
    args = [repr(spec.us_per_unit), repr(spec.burst), "1.0", str(int(60e6))]
    keys = ["omega:bench:rl:raw", "omega:bench:rl:raw:cooldown"]
    try:
        return await _timed(lambda: script(keys=keys, args=args), seconds)
    finally:
        await r.aclose()


def _run(kind: str, url: str, seconds: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    out.put(asyncio.run((_ours if kind == "ours" else _raw)(url, seconds)))


def rate(kind: str, url: str, procs: int, seconds: float) -> tuple[float, float]:
    """Acquisitions per second of ``procs`` processes together, and CPU us per acquisition."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    workers = [ctx.Process(target=_run, args=(kind, url, seconds, out)) for _ in range(procs)]
    for w in workers:
        w.start()
    results = [out.get(timeout=120) for _ in workers]
    for w in workers:
        w.join()
    count = sum(c for c, _ in results)
    return count / seconds, sum(cpu for _, cpu in results) / max(1, count) * 1e6


async def start_server(tmp: str) -> tuple[RedisClient, str]:
    server = RedisClient(RedisSettings(data_dir=Path(tmp)), metrics_registry=CollectorRegistry())
    await server.initialize()
    assert server.embedded is not None
    return server, server.embedded.address.url()


def main(seconds: float, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="omega-bench-") as tmp:
        loop = asyncio.new_event_loop()
        server, url = loop.run_until_complete(start_server(tmp))
        results: dict[int, tuple[float, float]] = {}
        cpu: dict[int, tuple[float, float]] = {}
        for procs in (1, 4):
            ours_runs, raw_runs = [], []
            for _ in range(rounds):  # alternating: a load change falls on both
                ours_runs.append(rate("ours", url, procs, seconds))
                raw_runs.append(rate("raw", url, procs, seconds))
            ours = statistics.median(r for r, _ in ours_runs)
            raw = statistics.median(r for r, _ in raw_runs)
            results[procs] = (ours, raw)
            cpu[procs] = (
                statistics.median(c for _, c in ours_runs),
                statistics.median(c for _, c in raw_runs),
            )
            print(
                f"{procs} process(es): GCRA acquire {ours:,.0f}/s ({ours / procs:,.0f} per process,"
                f" {cpu[procs][0]:.0f} us CPU each), bare redis-py EVALSHA {raw:,.0f}/s"
                f" ({cpu[procs][1]:.0f} us CPU each); median of {rounds} alternating runs",
                file=sys.stderr,
            )
        loop.run_until_complete(server.shutdown())
        loop.close()
    ours4, raw4 = results[4]
    print(
        json.dumps(
            {
                "bench": "ratelimit",
                "ours": round(ours4),
                "baseline": round(raw4),
                "baseline_name": "bare redis-py EVALSHA of the same GCRA script, 4 processes",
                "unit": "acquisitions/s (4 processes)",
                "ratio": round(ours4 / raw4, 3),
                "better": "higher",
                "ours_1_process": round(results[1][0]),
                "baseline_1_process": round(results[1][1]),
                "ours_cpu_us": round(cpu[4][0], 1),
                "baseline_cpu_us": round(cpu[4][1], 1),
                "ours_cpu_us_1_process": round(cpu[1][0], 1),
                "baseline_cpu_us_1_process": round(cpu[1][1], 1),
            }
        )
    )


if __name__ == "__main__":
    main(
        float(sys.argv[1]) if len(sys.argv) > 1 else 2.0,
        int(sys.argv[2]) if len(sys.argv) > 2 else 3,
    )

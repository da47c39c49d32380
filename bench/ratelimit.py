"""Shared limiter throughput: GCRA acquisitions per second with 1 and 4 processes.

Each acquisition is one Lua script call (one round trip). The baseline is the same GCRA script
called through a bare redis-py asyncio client (same server work, none of our wrapper) from the
same number of processes against the same embedded server, measured in this run. The budget is set far above what is asked so that
nothing waits: this measures the limiter's cost, not the limit.
Run: python bench/ratelimit.py [seconds]
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import redis.asyncio as raw_redis
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from omegafarm.store import RateSpec, RedisClient, RedisSettings
from omegafarm.store.ratelimit import GCRA_SCRIPT


async def _ours(url: str, seconds: float) -> int:
    client = RedisClient(
        RedisSettings(url=SecretStr(url), farm="bench"), metrics_registry=CollectorRegistry()
    )
    await client.initialize()
    spec = RateSpec(limit=1e9, period_s=1.0, burst=1e6)
    count, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        await client.ratelimit_acquire("weight:bench", spec, 1.0)
        count += 1
    await client.shutdown()
    return count


async def _raw(url: str, seconds: float) -> int:
    """The same GCRA script through a bare redis-py client: same server work, no wrapper."""
    r = raw_redis.from_url(url)
    script = r.register_script(GCRA_SCRIPT)
    spec = RateSpec(limit=1e9, period_s=1.0, burst=1e6)
    args = [repr(spec.us_per_unit), repr(spec.burst), "1.0", str(int(60e6))]
    keys = ["omega:bench:rl:raw", "omega:bench:rl:raw:cooldown"]
    count, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        await script(keys=keys, args=args)
        count += 1
    await r.aclose()
    return count


def _run(kind: str, url: str, seconds: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    out.put(asyncio.run((_ours if kind == "ours" else _raw)(url, seconds)))


def rate(kind: str, url: str, procs: int, seconds: float) -> float:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    workers = [ctx.Process(target=_run, args=(kind, url, seconds, out)) for _ in range(procs)]
    for w in workers:
        w.start()
    total = sum(out.get(timeout=120) for _ in workers)
    for w in workers:
        w.join()
    return total / seconds


async def start_server(tmp: str) -> tuple[RedisClient, str]:
    server = RedisClient(RedisSettings(data_dir=Path(tmp)), metrics_registry=CollectorRegistry())
    await server.initialize()
    assert server.embedded is not None
    return server, server.embedded.address.url()


def main(seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="omega-bench-") as tmp:
        loop = asyncio.new_event_loop()
        server, url = loop.run_until_complete(start_server(tmp))
        results = {}
        for procs in (1, 4):
            results[procs] = (rate("ours", url, procs, seconds), rate("raw", url, procs, seconds))
            ours, raw = results[procs]
            print(
                f"{procs} process(es): GCRA acquire {ours:,.0f}/s ({ours / procs:,.0f} per process), bare redis-py EVALSHA {raw:,.0f}/s"
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
            }
        )
    )


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 3.0)

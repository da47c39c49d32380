"""HTTP API throughput: our /health and cached, authenticated ticker route versus a bare
FastAPI app serving the same JSON under the same uvicorn settings.

Each server runs in its own process (so the load generator does not share its event loop);
the load generator is one httpx async client with CONCURRENCY keep-alive connections sending
REQUESTS requests per endpoint after a warm-up. Ours pays for everything a real call pays for:
the Bearer token check (HMAC + SQLite lookup), the per-token GCRA rate limit in Redis (a limit
high enough never to refuse) and the Redis ticker cache (1 s TTL); /health asks every service.
The bare app returns constant bytes. Last line: JSON with the ticker route's requests/s ratio.

Run: python bench/api_health.py [REQUESTS=600] [CONCURRENCY=16] [ROUNDS=2]
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

WARMUP = 200


async def serve_ours() -> None:
    from prometheus_client import CollectorRegistry

    from omegafarm.api import ApiService, ApiSettings
    from omegafarm.core.logging import configure_logging
    from omegafarm.core.registry import ServiceRegistry
    from omegafarm.exchange import ExchangeService, ExchangeSettings
    from omegafarm.security import Role, SecurityService, SecuritySettings
    from omegafarm.store import RedisClient, RedisSettings

    configure_logging(level="warning")  # stderr: stdout carries the handshake line
    tmp = Path(tempfile.mkdtemp(prefix="omega-bench-"))
    metrics = CollectorRegistry()
    redis = RedisClient(RedisSettings(data_dir=tmp / "redis"), metrics_registry=metrics)
    security = SecurityService(
        SecuritySettings(data_dir=tmp / "security", rate_limit_per_min=1e9, rate_limit_burst=1e6),
        redis=redis,
        metrics_registry=metrics,
    )
    exchange = ExchangeService(
        ExchangeSettings(ohlcv_cache_path=tmp / "ohlcv.sqlite3", load_markets_on_start=False),
        metrics_registry=metrics,
    )
    registry = ServiceRegistry([redis, security, exchange])
    api = ApiService(ApiSettings(port=0), registry, metrics_registry=metrics)
    registry.add(api)
    await registry.start_all()
    await security.add_user("bench", Role.VIEWER, None, actor="bench")
    token = (await security.create_token("bench", actor="bench")).value
    print(json.dumps({"url": api.url, "token": token}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until parent closes
    await registry.stop_all()


async def serve_bare(health: str, ticker: str) -> None:
    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import Response

    app = FastAPI()
    health_bytes, ticker_bytes = health.encode(), ticker.encode()

    @app.get("/health")
    async def bare_health() -> Response:
        return Response(health_bytes, media_type="application/health+json")

    @app.get("/api/v1/exchange/ticker")
    async def bare_ticker(symbol: str) -> Response:
        return Response(ticker_bytes, media_type="application/json")

    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  # uvicorn exposes a flag, not an event
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    print(json.dumps({"url": f"http://127.0.0.1:{port}", "token": ""}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.should_exit = True
    await task


def start(*args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, json.loads(line)


async def load(
    url: str, path: str, token: str, requests: int, concurrency: int
) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as http:

        async def worker(count: int, record: bool) -> None:
            for _ in range(count):
                t0 = time.perf_counter()
                response = await http.get(path)
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
                if record:
                    latencies.append(time.perf_counter() - t0)

        await asyncio.gather(
            *(worker(WARMUP // concurrency + 1, False) for _ in range(concurrency))
        )
        per_worker = requests // concurrency
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(per_worker, True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


async def main(requests: int, concurrency: int, rounds: int) -> None:
    ticker_path = "/api/v1/exchange/ticker?symbol=BTC/USDT"
    paths = {"health": "/health", "ticker": ticker_path}
    ours_proc, ours = start("ours")
    bare_proc = None
    try:
        async with httpx.AsyncClient(base_url=ours["url"]) as http:
            health_doc = (await http.get("/health")).text
            ticker_doc = (
                await http.get(ticker_path, headers={"Authorization": f"Bearer {ours['token']}"})
            ).text
        bare_proc, bare = start("bare", health_doc, ticker_doc)
        servers = {"ours": ours, "bare": bare}
        best: dict[str, dict[str, float]] = {}
        for _ in range(rounds):  # interleaved rounds, best of each: the machine is shared
            for name, path in paths.items():
                for who, server in servers.items():
                    got = await load(server["url"], path, server["token"], requests, concurrency)
                    key = f"{who}_{name}"
                    if key not in best or got["rps"] > best[key]["rps"]:
                        best[key] = got
    finally:
        ours_proc.communicate("", timeout=30)
        if bare_proc is not None:
            bare_proc.communicate("", timeout=30)
    for key, value in best.items():
        print(
            f"{key:<12} {value['rps']:8.0f} req/s  p50 {value['p50_ms']:7.2f} ms  "
            f"p99 {value['p99_ms']:7.2f} ms"
        )
    ours_rps, bare_rps = best["ours_ticker"]["rps"], best["bare_ticker"]["rps"]
    print(
        json.dumps(
            {
                "bench": "api_health",
                "ours": round(ours_rps, 1),
                "baseline": round(bare_rps, 1),
                "baseline_name": "bare FastAPI app returning the same ticker JSON (same uvicorn)",
                "unit": "requests/s (cached authenticated ticker route)",
                "ratio": round(ours_rps / bare_rps, 3),
                "better": "higher",
                "health_rps_ours": round(best["ours_health"]["rps"], 1),
                "health_rps_baseline": round(best["bare_health"]["rps"], 1),
                "p99_ms": {k: round(v["p99_ms"], 2) for k, v in best.items()},
                "requests": requests,
                "concurrency": concurrency,
                "rounds": rounds,
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--serve":
        if sys.argv[2] == "ours":
            asyncio.run(serve_ours())
        else:
            asyncio.run(serve_bare(sys.argv[3], sys.argv[4]))
    else:
        n = int(sys.argv[1]) if len(sys.argv) > 1 else 600
        c = int(sys.argv[2]) if len(sys.argv) > 2 else 16
        r = int(sys.argv[3]) if len(sys.argv) > 3 else 2
        asyncio.run(main(n, c, r))

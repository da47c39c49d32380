"""Service overhead per call: ExchangeService.fetch_ticker vs raw ccxt fetch_ticker.

Both talk to the same loopback server answering Binance's recorded ticker response (from
``../shared/fixtures/ccxt``; a built-in copy of its shape when that folder is absent). The
service adds the limiter, translation/retry wrapper, metrics and normalization into Decimal
models; the baseline is a plain ``ccxt.async_support.binance`` with its throttle off. Calls
alternate one by one between the two so both see the same machine load; the median round counts.

    python bench/exchange_overhead.py [--calls 300] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt_async

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from omegafarm.exchange import ExchangeService, ExchangeSettings  # noqa: E402
from omegafarm.exchange.client import rewrite_urls  # noqa: E402
from omegafarm.exchange.ratelimit import BucketSpec, LocalRateLimiter  # noqa: E402
from omegafarm.exchange.testing import LoopbackExchangeServer  # noqa: E402

FIXTURE = ROOT.parent / "shared" / "fixtures" / "ccxt" / "response" / "binance.json"
MARKET = {
    "id": "BTCUSDT",
    "symbol": "BTC/USDT",
    "base": "BTC",
    "quote": "USDT",
    "type": "spot",
    "spot": True,
    "active": True,
    "precision": {"amount": 1e-05, "price": 0.01},
    "limits": {"amount": {"min": 1e-05}, "cost": {"min": 5.0}},
    "info": {},
}
FALLBACK = {
    "symbol": "BTCUSDT",
    "priceChange": "-180.01",
    "lastPrice": "42811.99",
    "bidPrice": "42811.99",
    "askPrice": "42812.00",
    "openPrice": "42992.00",
    "highPrice": "43160.00",
    "lowPrice": "42500.00",
    "volume": "24211.10",
    "quoteVolume": "1037389233.12",
    "closeTime": 1706628191000,
}


def ticker_body() -> tuple[str, str]:
    """The recorded ticker response and where it came from."""
    if FIXTURE.exists():
        case = json.loads(FIXTURE.read_text())["methods"]["fetchTicker"][0]
        body = case["httpResponse"]
        return (body if isinstance(body, str) else json.dumps(body)), "shared fixture"
    return json.dumps(FALLBACK), "built-in copy"


async def paired(first: Any, second: Any, calls: int) -> tuple[float, float, float, float]:
    """Mean wall and CPU seconds per call of each (first wall, second wall, first CPU, second
    CPU), alternating call by call so both see the same load. CPU time is this process's (the
    loopback server included, the same for both): on a busy machine it moves less than wall."""
    spent = [0.0, 0.0]
    cpu = [0.0, 0.0]
    for i in range(2 * calls):
        which = i % 2
        start, start_cpu = time.perf_counter(), time.process_time()
        await (first if which == 0 else second)()
        spent[which] += time.perf_counter() - start
        cpu[which] += time.process_time() - start_cpu
    return spent[0] / calls, spent[1] / calls, cpu[0] / calls, cpu[1] / calls


def make_sides(url: str) -> tuple[Any, ExchangeService]:
    """Raw ccxt and our (not yet started) service, both aimed at the loopback server ``url``."""
    raw = ccxt_async.binance({"enableRateLimit": False, "apiKey": "k", "secret": "s"})
    raw.set_markets([raw.safe_market_structure(MARKET)])
    raw.urls["api"] = rewrite_urls(raw.urls["api"], url)
    settings = ExchangeSettings(
        exchange_id="binance",
        api_base_url=url,
        load_markets_on_start=False,
        ohlcv_cache_path=Path(tempfile.mkdtemp()) / "c.sqlite",
    )
    limiter = LocalRateLimiter(BucketSpec(1e-9, 1e9))  # real code path, never waits
    return raw, ExchangeService(settings, rate_limiter=limiter)


async def main(calls: int, rounds: int) -> dict[str, Any]:
    body, source = ticker_body()
    async with LoopbackExchangeServer(body) as server:
        raw, service = make_sides(server.url)
        async with service:
            client = service.get_exchange_client()
            client.set_markets([client.safe_market_structure(MARKET)])
            for _ in range(30):  # warm up connections and caches
                await raw.fetch_ticker("BTC/USDT")
                await service.fetch_ticker("BTC/USDT")
            ours_s, base_s, ours_cpu, base_cpu = [], [], [], []
            for _ in range(rounds):
                base, ours, base_c, ours_c = await paired(
                    lambda: raw.fetch_ticker("BTC/USDT"),
                    lambda: service.fetch_ticker("BTC/USDT"),
                    calls,
                )
                base_s.append(base)
                ours_s.append(ours)
                base_cpu.append(base_c)
                ours_cpu.append(ours_c)
        await raw.close()
    ours_us = statistics.median(ours_s) * 1e6
    base_us = statistics.median(base_s) * 1e6
    ours_cpu_us = statistics.median(ours_cpu) * 1e6
    base_cpu_us = statistics.median(base_cpu) * 1e6
    print(f"response: {source}; {rounds} rounds x {calls} calls", file=sys.stderr)
    print(f"raw ccxt     {base_us:8.1f} us/call", file=sys.stderr)
    print(f"service      {ours_us:8.1f} us/call", file=sys.stderr)
    print(f"overhead     {ours_us - base_us:8.1f} us/call", file=sys.stderr)
    print(f"CPU: raw {base_cpu_us:.1f}, service {ours_cpu_us:.1f} us/call", file=sys.stderr)
    return {
        "bench": "exchange_overhead",
        "ours": round(ours_us, 1),
        "baseline": round(base_us, 1),
        "baseline_name": "raw ccxt.async_support.binance fetch_ticker, same loopback server",
        "unit": "us/call",
        "ratio": round(ours_us / base_us, 3),
        "better": "lower",
        "overhead_us": round(ours_us - base_us, 1),
        "cpu_ratio": round(ours_cpu_us / base_cpu_us, 3),
        "ours_cpu_us": round(ours_cpu_us, 1),
        "baseline_cpu_us": round(base_cpu_us, 1),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.calls, args.rounds))))

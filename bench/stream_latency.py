"""Fill latency: exchange stream message -> the bot's update stream, versus REST polling.

A real gateway (embedded Valkey, real ExchangeService with real ccxt / ccxt.pro) trades on a
loopback Binance: REST on :class:`LoopbackExchangeServer` (tests/exchange/_binance.py's tiny
stateful Binance), streams on :class:`LoopbackBinanceStream`. One limit order at a time is
placed through the command stream and then filled at the exchange:

* ours (streaming): the fill is pushed as an ``executionReport``; latency = from the moment the
  server sent the message to the moment the bot's update stream holds the fill (read with a
  blocking XREADGROUP);
* baseline (the REST polling path, ``stream = false``): the fill is booked at the exchange and
  found by the gateway's ``fetch_order`` poll (farm default ``poll_interval_s``); latency = from
  the booking to the update stream.

Fills are spread at random moments (seeded) so the baseline sees every phase of its poll.
Also printed: REST order-status requests made while the stream was up (target: 0) and the share
of fills within 100 ms of the stream message (target: all).

    python bench/stream_latency.py [--fills 60] [--baseline-fills 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from prometheus_client import CollectorRegistry  # noqa: E402
from tests.exchange._binance import HOUR_MS, MiniBinance, btc_usdt_market  # noqa: E402
from tests.exchange._replay import dummy_credentials, install_markets  # noqa: E402

from omegafarm.bots.config import FarmSettings  # noqa: E402
from omegafarm.bots.gateway import Gateway  # noqa: E402
from omegafarm.bots.ledger import OrderUpdate  # noqa: E402
from omegafarm.core.logging import configure_logging  # noqa: E402
from omegafarm.exchange import ExchangeService, ExchangeSettings  # noqa: E402
from omegafarm.exchange.testing_stream import (  # noqa: E402
    LoopbackBinanceStream,
    execution_report,
)
from omegafarm.store import RedisClient, RedisSettings  # noqa: E402
from omegafarm.store import keys as _names  # noqa: E402

LIMIT = {"kind": "place", "symbol": "BTC/USDT", "side": "buy", "type": "limit",
         "amount": "0.01", "price": "50000", "bot_id": "b1", "token": 1}  # fmt: skip


class UpdateReader:
    """The bot's update stream, read as a worker would (blocking), with arrival times."""

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self.arrived: dict[tuple[str, str], float] = {}
        self._event = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        stream = _names.updates("b1")
        await self.redis.stream_group(stream, "bench")
        while not stop.is_set():
            for message in await self.redis.stream_read(stream, "bench", "r", block_ms=100):
                now = time.perf_counter()
                update = OrderUpdate(**message.data)
                self.arrived.setdefault((update.client_order_id, update.status), now)
                self._event.set()

    async def wait(self, cid: str, status: str, timeout_s: float = 10.0) -> float:
        async with asyncio.timeout(timeout_s):
            while (cid, status) not in self.arrived:
                self._event.clear()
                await self._event.wait()
        return self.arrived[(cid, status)]


async def run_mode(
    redis: RedisClient, tmp: Path, *, streaming: bool, fills: int
) -> dict[str, object]:
    venue = MiniBinance(bars=0)
    now_bar = int(time.time() * 1000) // HOUR_MS * HOUR_MS
    for i in range(3, 10):
        ts = now_bar - i * HOUR_MS
        venue.candles[ts] = [ts, "100", "101", "99", "100.5", "10", ts + HOUR_MS - 1, "0", 1]
    rng = random.Random(7)
    latencies: list[float] = []
    async with venue.server, LoopbackBinanceStream() as ws:
        settings = ExchangeSettings(
            exchange_id="binance", api_base_url=venue.server.url, stream=streaming,
            stream_settle_s=0.2,
            stream_base_url=ws.url, load_markets_on_start=False,
            ohlcv_cache_path=tmp / f"ohlcv-{streaming}.sqlite",
        )  # fmt: skip
        ex = ExchangeService(settings, credentials=dummy_credentials("binance"),
                             metrics_registry=CollectorRegistry())  # fmt: skip
        async with ex:
            install_markets(ex.get_exchange_client(), {"BTC/USDT": btc_usdt_market()})
            farm = FarmSettings(reconcile_interval_s=0)
            gateway = Gateway(redis, ex, farm, {("BTC/USDT", "1h")}, gateway_id=f"bench{streaming}")
            reader = UpdateReader(redis)
            stop = asyncio.Event()
            tasks = [asyncio.create_task(gateway.run(stop)), asyncio.create_task(reader.run(stop))]
            try:
                if streaming:
                    await ws.wait_subscribed(["btcusdt@kline_1h", "user"])
                    await _until_confirmed(gateway)
                status_before = _status_requests(venue)
                for k in range(fills):
                    cid = f"b1-{k + 1}"
                    await redis.stream_add(_names.COMMANDS, {**LIMIT, "cid": cid})
                    await reader.wait(cid, "open")
                    await asyncio.sleep(rng.uniform(0.0, farm.poll_interval_s))
                    venue.fill(cid, "0.01", "50000")
                    sent = time.perf_counter()
                    if streaming:
                        order = next(o for o in venue.orders if o["clientOrderId"] == cid)
                        await ws.user_event(execution_report(order, last_qty="0.01",
                                                             last_price="50000"))  # fmt: skip
                        sent = ws.sent[-1][0]
                    latencies.append((await reader.wait(cid, "closed") - sent) * 1000)
                status_requests = _status_requests(venue) - status_before
            finally:
                stop.set()
                await asyncio.gather(*tasks)
    return {"latencies_ms": latencies, "status_requests": status_requests}


async def _until_confirmed(gateway: Gateway) -> None:
    """Until the gap fills after connecting (settled, confirmed) are done: the stream is up."""
    async with asyncio.timeout(30):
        for _ in iter(int, 1):
            stream = gateway.market.stream
            if stream is not None and stream.stats()["orders"]["gap_fills"] >= 2:
                return
            await asyncio.sleep(0.05)


def _status_requests(venue: MiniBinance) -> int:
    return sum(1 for r in venue.server.requests if r.path.endswith("/order") and r.method == "GET")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(fills: int, baseline_fills: int) -> None:
    configure_logging(level="WARNING")
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        redis = RedisClient(RedisSettings(data_dir=tmp / "valkey", farm="bench"),
                            metrics_registry=CollectorRegistry())  # fmt: skip
        await redis.initialize()
        try:
            ours = await run_mode(redis, tmp, streaming=True, fills=fills)
            await redis.delete(*(await redis.scan("")))
            base = await run_mode(redis, tmp, streaming=False, fills=baseline_fills)
        finally:
            await redis.shutdown()
    lat, base_lat = ours["latencies_ms"], base["latencies_ms"]
    assert isinstance(lat, list)
    assert isinstance(base_lat, list)
    within = sum(1 for x in lat if x <= 100.0)
    p50, p99 = statistics.median(lat), _pct(lat, 0.99)
    b50, b99 = statistics.median(base_lat), _pct(base_lat, 0.99)
    print(f"streaming : {len(lat)} fills, p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(lat):.1f} ms, "
          f"{within}/{len(lat)} within 100 ms; REST order-status requests while up: "
          f"{ours['status_requests']}")  # fmt: skip
    print(f"REST poll : {len(base_lat)} fills, p50 {b50:.1f} ms, p99 {b99:.1f} ms "
          f"(poll_interval_s {FarmSettings().poll_interval_s}); order-status requests: "
          f"{base['status_requests']}")  # fmt: skip
    print(json.dumps({
        "bench": "stream_latency", "ours": round(p50, 2), "baseline": round(b50, 2),
        "baseline_name": "REST fetch_order polling (farm default poll_interval_s), p50",
        "unit": "ms (fill at the exchange -> bot update stream, p50)",
        "ratio": round(p50 / b50, 4), "better": "lower", "ours_p99": round(p99, 2),
        "baseline_p99": round(b99, 2), "within_100ms": f"{within}/{len(lat)}",
        "rest_status_requests_while_streaming": ours["status_requests"],
    }))  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=60)
    parser.add_argument("--baseline-fills", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(main(args.fills, args.baseline_fills))

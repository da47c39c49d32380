"""Pub/sub delivery rate: RedisClient publish/listen versus raw redis-py asyncio (hiredis).

Both sides encode and send the same 100,000 small JSON messages through the same embedded Valkey server,
publisher pipelined in batches of 1,000, one async subscriber decoding every message. The rate
is messages delivered per second from the first publish to the last message received.
Run: python bench/redis_pubsub.py [N]
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import redis.asyncio as raw_redis
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from omegafarm.store import RedisClient, RedisSettings

BATCH = 1_000
ROUNDS = 5


def messages(n: int) -> list[dict[str, object]]:
    return [{"symbol": "BTC/USDT", "price": 60_000.5 + i, "i": i} for i in range(n)]


async def bench_ours(url: str, n: int) -> float:
    client = RedisClient(
        RedisSettings(url=SecretStr(url), farm="bench"), metrics_registry=CollectorRegistry()
    )
    await client.initialize()
    sub = await client.subscribe("ticks")
    payload = messages(n)

    async def consume() -> None:
        received = 0
        while received < n:
            message = await sub.get()
            if message is not None:
                received += 1

    consumer = asyncio.create_task(consume())
    start = time.perf_counter()
    for i in range(0, n, BATCH):
        await client.publish_many("ticks", payload[i : i + BATCH])
    await consumer
    elapsed = time.perf_counter() - start
    await client.shutdown()
    return n / elapsed


async def bench_raw(url: str, n: int) -> float:
    r = raw_redis.from_url(url)
    pubsub = r.pubsub()
    await pubsub.subscribe("raw:ticks")
    payload = messages(n)

    async def consume() -> None:
        received = 0
        while received < n:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            if message is not None and message["type"] == "message":
                json.loads(message["data"])
                received += 1

    consumer = asyncio.create_task(consume())
    start = time.perf_counter()
    for i in range(0, n, BATCH):
        pipe = r.pipeline(transaction=False)
        for message in payload[i : i + BATCH]:
            pipe.publish("raw:ticks", json.dumps(message).encode())
        await pipe.execute()
    await consumer
    elapsed = time.perf_counter() - start
    await pubsub.aclose()
    await r.aclose()
    return n / elapsed


async def main(n: int) -> None:
    from redis.utils import HIREDIS_AVAILABLE

    with tempfile.TemporaryDirectory(prefix="omega-bench-") as tmp:
        server = RedisClient(
            RedisSettings(data_dir=Path(tmp)), metrics_registry=CollectorRegistry()
        )
        await server.initialize()
        assert server.embedded is not None
        url = server.embedded.address.url()
        ours, raw = [], []
        for _ in range(ROUNDS):  # interleaved rounds; the best of each is reported
            raw.append(await bench_raw(url, n))
            ours.append(await bench_ours(url, n))
        await server.shutdown()
    best_ours, best_raw = max(ours), max(raw)
    print(f"hiredis parser: {HIREDIS_AVAILABLE}; {n} messages, {ROUNDS} rounds")
    print(f"RedisClient  : {best_ours:,.0f} msg/s (rounds: {', '.join(f'{x:,.0f}' for x in ours)})")
    print(f"raw redis-py : {best_raw:,.0f} msg/s (rounds: {', '.join(f'{x:,.0f}' for x in raw)})")
    print(
        json.dumps(
            {
                "bench": "redis_pubsub",
                "ours": round(best_ours),
                "baseline": round(best_raw),
                "baseline_name": "raw redis-py asyncio + hiredis, pipelined publisher, json",
                "unit": "messages/s",
                "ratio": round(best_ours / best_raw, 3),
                "better": "higher",
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))

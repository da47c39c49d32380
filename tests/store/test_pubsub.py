from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from prometheus_client import CollectorRegistry

from omegafarm.store import RedisClient, RedisSettings


async def test_subscriber_receives_published_messages(redis_client: RedisClient) -> None:
    sub = await redis_client.subscribe("ticks")
    for i in range(3):
        await redis_client.publish("ticks", {"i": i})
    got = [await sub.get(timeout_s=5) for _ in range(3)]
    assert [m.data["i"] for m in got if m] == [0, 1, 2]
    assert all(m is not None and m.channel == "ticks" for m in got)


async def test_listen_yields_messages_of_every_subscribed_channel(
    redis_client: RedisClient,
) -> None:
    await redis_client.subscribe("a", "b")
    await redis_client.publish("a", 1)
    await redis_client.publish("b", 2)
    seen = []
    async for message in redis_client.listen():
        seen.append((message.channel, message.data))
        if len(seen) == 2:
            break
    assert seen == [("a", 1), ("b", 2)]


async def test_subscriber_keeps_receiving_after_server_is_killed_and_restarted(
    tmp_path: Path,
) -> None:
    client = RedisClient(
        RedisSettings(data_dir=tmp_path / "v", farm="restart"), metrics_registry=CollectorRegistry()
    )
    await client.initialize()
    try:
        sub = await client.subscribe("feed")
        await client.publish("feed", "before")
        first = await sub.get(timeout_s=5)
        assert first is not None and first.data == "before"

        server = client.embedded
        assert server is not None and server.pid is not None
        old_pid = server.pid
        os.kill(old_pid, signal.SIGKILL)

        # The supervisor restarts the server; publish until the resubscribed reader sees one.
        received = None
        for attempt in range(200):
            try:
                await client.publish("feed", f"after-{attempt}")
            except Exception:  # server still restarting: try again
                await asyncio.sleep(0.05)  # wait-ok: pacing retries while the server restarts
                continue
            received = await sub.get(timeout_s=0.05)
            if received is not None:
                break
        assert received is not None and str(received.data).startswith("after-")
        assert server.pid != old_pid
        assert server.restarts >= 1
        assert sub.reconnects >= 1
    finally:
        await client.shutdown()

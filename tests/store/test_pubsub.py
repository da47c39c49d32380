from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

from prometheus_client import CollectorRegistry
from pydantic import SecretStr

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
        assert server.restarts >= 1  # (redis-py may have reconnected by itself: no count)
    finally:
        await client.shutdown()


async def test_a_subscription_without_channels_idles_instead_of_failing(
    redis_client: RedisClient,
) -> None:
    sub = redis_client.subscription()
    assert await sub.get(timeout_s=0.05) is None  # never subscribed: idle, no error
    await sub.subscribe("x")
    await sub.unsubscribe("x")
    assert await sub.get(timeout_s=0.05) is None  # every channel dropped: idle again
    await sub.subscribe("y")
    await redis_client.publish("y", "back")
    message = await sub.get(timeout_s=5)
    assert message is not None and message == ("y", "back")
    await sub.close()


async def test_reconnect_subscribes_exactly_the_channels_wanted_after_an_outage(
    tmp_path: Path,
) -> None:
    """The issue's sequence: the server is killed (-9); while the subscription reconnects its
    owner drops every channel (its leases expired) and then wants a new one; the server comes
    back on the same port. The subscription must end on exactly the new set: no error, no
    message of a dropped channel, every message of the new one."""
    from omegafarm.core.errors import StoreUnavailableError
    from omegafarm.store.testing import ValkeyServers, free_ports

    servers = ValkeyServers(tmp_path)
    (port,) = free_ports(1)
    servers.spawn(port, ["appendonly yes"])
    client = RedisClient(
        RedisSettings(url=SecretStr(f"redis://127.0.0.1:{port}"), farm="order",
                      reconnect_max_backoff_s=0.1, socket_timeout_s=1, connect_timeout_s=0.5),
        metrics_registry=CollectorRegistry(),
    )  # fmt: skip
    await client.initialize()
    try:
        sub = client.subscription()
        await sub.subscribe("md:a", "md:b")
        await client.publish("md:a", 1)
        assert await sub.get(timeout_s=5) == ("md:a", 1)

        servers.kill(port)
        reader = asyncio.create_task(sub.get(timeout_s=30))  # reconnects in the background
        await asyncio.sleep(0.3)  # wait-ok: let the reader find the connection gone and retry
        await sub.unsubscribe("md:a", "md:b")  # every lease lost while reconnecting
        with contextlib.suppress(StoreUnavailableError):  # wanted all the same
            await sub.subscribe("md:c")  # a new bot while the server is still down
        assert sub.channels == frozenset({"md:c"})

        servers.restart(port)
        got = None
        deadline = asyncio.get_running_loop().time() + 20
        while got is None and asyncio.get_running_loop().time() < deadline:
            await client.publish("md:a", "dropped")
            await client.publish("md:c", "wanted")
            if reader.done():
                got = reader.result()
                reader = asyncio.create_task(sub.get(timeout_s=30))
            else:
                await asyncio.wait({reader}, timeout=0.1)
        reader.cancel()
        assert got == ("md:c", "wanted")
        assert sub.reconnects >= 1
        numsub = await client._raw.pubsub_numsub(
            client.keys.channel("md:a"), client.keys.channel("md:c")
        )
        assert [n for _, n in numsub] == [0, 1]  # exactly the wanted set on the server
        await sub.close()
    finally:
        await client.shutdown()
        servers.stop()


async def test_a_reconnect_redis_py_makes_by_itself_is_counted(
    redis_client: RedisClient, redis_url: str
) -> None:
    """A killed connection is reconnected and re-subscribed inside redis-py's read, so no
    error reaches the subscription; what was published meanwhile is lost all the same, so
    ``reconnects`` must count it (the farm's workers then catch up from Redis)."""
    from tests._redis import kill_pubsub_connections
    from tests.integration._farm import wait_for

    sub = redis_client.subscription()
    await sub.subscribe("k")
    await kill_pubsub_connections(redis_url)

    async def counted() -> bool:
        await sub.get(timeout_s=0.1)  # redis-py notices the break on a read
        return sub.reconnects == 1

    await wait_for(counted, 15, "the reconnect counted")
    await redis_client.publish("k", "after")
    got = await sub.get(timeout_s=5)
    assert got is not None and got.data == "after"
    assert sub.reconnects == 1  # one break, one count
    await sub.close()

"""RedisClient through real Sentinels (1 master + 1 replica + 3 sentinels, bundled valkey-server)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from omegafarm.core.errors import TransientError
from omegafarm.store import RedisClient, RedisSettings
from omegafarm.store.errors import StoreFailoverError
from omegafarm.store.testing import HOST, SentinelGroup, wait_until
from tests.store.test_optuna_journal import check_shared_study

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelGroup]:
    servers = SentinelGroup(tmp_path_factory.mktemp("sentinel"))
    try:
        yield servers.start()
    finally:
        servers.stop()


def _client(**fields: object) -> RedisClient:
    settings = RedisSettings.model_validate(
        {
            "farm": "s" + uuid.uuid4().hex[:8],
            "reconnect_max_backoff_s": 0.2,
            "socket_timeout_s": 2,
            "connect_timeout_s": 1,
            **fields,
        }
    )
    return RedisClient(settings, metrics_registry=CollectorRegistry())


@pytest_asyncio.fixture(loop_scope="session")
async def client(group: SentinelGroup) -> AsyncIterator[RedisClient]:
    redis = _client(url=SecretStr(group.url))
    await redis.initialize()
    yield redis
    await redis.shutdown()


def test_an_optimize_study_is_shared_through_sentinels(group: SentinelGroup) -> None:
    """The sentinels given as a list (no URL): before, ``omega optimize`` silently used a local
    embedded server instead of the farm's Sentinel group."""
    sentinels = [f"{HOST}:{port}" for port in group.sentinel_ports]
    settings = RedisSettings(
        sentinels=sentinels, master_name=group.MASTER_NAME, farm="s" + uuid.uuid4().hex[:8]
    )
    check_shared_study(settings)


async def test_values_streams_pubsub_and_scripts_through_sentinel(client: RedisClient) -> None:
    await client.set("a", {"x": 1})
    assert await client.get("a") == {"x": 1}

    await client.stream_group("ev", "g")
    await client.stream_add("ev", "one")
    assert [m.data for m in await client.stream_read("ev", "g", "c", block_ms=None)] == ["one"]

    sub = client.subscription()
    await sub.subscribe("feed")
    await client.publish("feed", "hi")
    message = await sub.get(timeout_s=5)
    assert message is not None and message.data == "hi"
    await sub.close()

    script = client.script("return redis.call('INCRBY', KEYS[1], ARGV[1])", name="incr")
    assert await script(keys=["n"], args=["5"]) == 5

    health = await client.health()
    assert health.ready and "sentinel" in health.reason


async def test_sentinels_and_master_name_settings_work_like_the_url(group: SentinelGroup) -> None:
    redis = _client(
        sentinels=[f"127.0.0.1:{p}" for p in group.sentinel_ports],
        master_name=group.MASTER_NAME,
    )
    await redis.initialize()
    try:
        await redis.set("b", 2)
        assert await redis.get("b") == 2
    finally:
        await redis.shutdown()


async def test_writing_to_the_replica_is_a_failover_error_not_unavailable(
    group: SentinelGroup,
) -> None:
    replica = _client(url=SecretStr(f"redis://127.0.0.1:{group.replica_port}"))
    await replica.initialize()
    try:
        with pytest.raises(StoreFailoverError, match="READONLY"):
            await replica.set("c", 1)
    finally:
        await replica.shutdown()


def test_sentinel_settings_without_a_master_name_are_refused() -> None:
    with pytest.raises(ValueError, match="master_name"):
        RedisSettings(sentinels=["127.0.0.1:26379"])


async def test_the_client_follows_the_new_master_after_the_master_is_killed(
    tmp_path: Path,
) -> None:
    servers = SentinelGroup(tmp_path).start()  # destructive: a group of its own
    redis = _client(url=SecretStr(servers.url))
    await redis.initialize()
    try:
        await redis.set("before", "kept")
        sub = redis.subscription()
        await sub.subscribe("after")
        old_master = servers.master()
        await asyncio.to_thread(wait_until, lambda: _replicated(servers), 10, "replication")

        servers.kill(old_master)  # kill -9 of the master
        await asyncio.to_thread(
            wait_until, lambda: servers.master() != old_master, 30, "the sentinels' failover"
        )
        assert servers.master() == servers.replica_port

        deadline = asyncio.get_running_loop().time() + 20
        while True:
            try:
                await redis.set("after", "ok")
                break
            except TransientError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.1)  # wait-ok: retry pacing while connections re-resolve
        assert await redis.get("before") == "kept"  # replicated before the kill
        got = None
        while got is None and asyncio.get_running_loop().time() < deadline:
            await redis.publish("after", "hello")
            got = await sub.get(timeout_s=0.2)
        assert got is not None and got.data == "hello"
        await sub.close()
    finally:
        await redis.shutdown()
        servers.stop()


def _replicated(servers: SentinelGroup) -> bool:
    from omegafarm.store.testing import cli

    master = cli(servers.master_port, "info", "replication")
    replica = cli(servers.replica_port, "info", "replication")
    offset = [ln for ln in master.splitlines() if ln.startswith("master_repl_offset:")]
    return bool(offset) and offset[0].split(":")[1] in replica.replace("slave_repl_offset", "x")

"""The key scheme: every multi-key script's keys share one Redis Cluster slot."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from omegafarm.core.errors import StoreError, ValidationError
from omegafarm.store import Keys, RedisClient, keys

FARM = Keys("main")


def slot(relative: str) -> int:
    return key_slot(FARM.key(relative).encode())


@pytest.mark.parametrize("bot_id", ["sma_btc", "fib-eth", "a:b", "x" * 40])
def test_a_bots_lease_fence_and_state_share_one_slot(bot_id: str) -> None:
    names = [keys.lease(bot_id), keys.fence(bot_id), keys.bot_state(bot_id)]
    names += [keys.desired(bot_id), keys.status(bot_id)]
    assert len({slot(n) for n in names}) == 1
    assert all("{bot:" + bot_id + "}" in n for n in names)


def test_different_bots_spread_over_slots() -> None:
    assert len({slot(keys.lease(f"bot{i}")) for i in range(50)}) > 40


@pytest.mark.parametrize(
    "bucket", ["api:cred1", "weight:binance@10.0.0.1", "login:::1", "odd}bucket", "odd{bucket"]
)
def test_a_rate_limit_bucket_and_its_cooldown_share_one_slot(bucket: str) -> None:
    assert key_slot(FARM.ratelimit(bucket).encode()) == key_slot(FARM.cooldown(bucket).encode())


def test_gateway_state_and_worker_heartbeats_are_each_in_one_slot() -> None:
    gateway = [keys.GATEWAY_OPEN, keys.order_record("c1"), keys.order_record("c2")]
    gateway += [keys.COMMANDS, keys.GATEWAY_LEASE, keys.GATEWAY_FENCE]
    assert len({slot(n) for n in gateway}) == 1
    assert len({slot(keys.worker(w)) for w in ("w1", "w2", "w3")}) == 1
    beat = [keys.worker("w1"), keys.WORKERS_LIVE, keys.CONTROL_VERSION]  # one beat script
    assert len({slot(n) for n in beat}) == 1


def test_a_hash_tag_refuses_braces() -> None:
    with pytest.raises(ValidationError, match="brace-free"):
        keys.tag("bot", "a}b")


async def test_scan_returns_relative_names_of_a_prefix(redis_client: RedisClient) -> None:
    for worker_id in ("w1", "w2"):
        await redis_client.set(keys.worker(worker_id), {"at_ms": 1})
    await redis_client.set("state:other", 1)
    found = await redis_client.scan(keys.WORKERS_PREFIX)
    assert sorted(found) == [keys.worker("w1"), keys.worker("w2")]


async def test_a_script_runs_with_relative_keys_and_keeps_its_slot(
    redis_client: RedisClient,
) -> None:
    script = redis_client.script(
        "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[2])", name="t"
    )
    assert await script([keys.lease("b1"), keys.fence("b1")], ["w|1"]) == 1
    assert await redis_client.get_text(keys.lease("b1")) == "w|1"
    assert await redis_client.get_text(keys.fence("b1")) == "1"


async def test_a_bug_in_a_script_is_a_store_error_not_an_outage(redis_client: RedisClient) -> None:
    broken = redis_client.script("return redis.call('NOSUCHCOMMAND')", name="broken")
    with pytest.raises(StoreError, match="script broken") as caught:
        await broken()
    assert type(caught.value) is StoreError  # not StoreUnavailableError: nothing is down
    assert caught.value.__cause__ is not None  # the server's own error is kept


def test_each_command_partition_is_one_slot_and_partitions_spread() -> None:
    for p in range(8):
        names = [keys.partition_commands(p), keys.partition_open(p)]
        names += [keys.partition_lease(p), keys.partition_fence(p)]
        assert len({slot(n) for n in names}) == 1
        assert all("{gateway:p" + str(p) + "}" in n for n in names)
    assert len({slot(keys.partition_lease(p)) for p in range(8)}) == 8
    beats = {slot(keys.gateway_heartbeat(g)) for g in ("g1", "g2", "g3")}
    assert beats == {slot(keys.GATEWAYS_LIVE)}  # a beat and the live set: one script

"""Upgrading a farm's Redis from the older key layout (no hash tags) in place, on real Valkey."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from omegafarm.cli import app
from omegafarm.store import RedisClient, StoreConfigurationError
from omegafarm.store import keys as _names
from omegafarm.store.migrate import check_layout, migrate, plan


def test_plan_maps_each_old_name_to_todays_and_ignores_todays_names() -> None:
    moves = {m.old: (m.kind, m.new) for m in plan([
        "state:bot:sma_btc", "state:farm:desired:sma_btc", "stream:bot:sma_btc:updates",
        "stream:bot:sma_btc:equity", "state:fence:bot:sma_btc", "state:gw:order:sma_btc-7",
        "state:gw:open", "stream:gw:commands", "state:farm:status:sma_btc", "health:worker:h-1-ab",
        "rl:weight:binance", "lock:lease:bot:sma_btc",
        _names.bot_state("sma_btc"), _names.COMMANDS, _names.GATEWAY_OPEN, _names.BOTS,
        _names.history("BTC/USDT", "1m"), "cache:exchange:paper:markets",
    ])}  # fmt: skip
    assert moves == {
        "state:bot:sma_btc": ("rename", _names.bot_state("sma_btc")),
        "state:farm:desired:sma_btc": ("rename", _names.desired("sma_btc")),
        "stream:bot:sma_btc:updates": ("rename", "stream:" + _names.updates("sma_btc")),
        "stream:bot:sma_btc:equity": ("rename", "stream:" + _names.equity("sma_btc")),
        "state:fence:bot:sma_btc": ("merge-fence", _names.fence("sma_btc")),
        "state:gw:order:sma_btc-7": ("rename", _names.order_record("sma_btc-7")),
        "state:gw:open": ("rename", _names.GATEWAY_OPEN),
        "stream:gw:commands": ("rename", "stream:" + _names.COMMANDS),
        "state:farm:status:sma_btc": ("delete", None),
        "health:worker:h-1-ab": ("delete", None),
        "rl:weight:binance": ("delete", None),
        "lock:lease:bot:sma_btc": ("held", None),
    }


async def _old_farm(redis: RedisClient) -> None:
    """What a layout-1 farm left in Redis: a ledger, a stream with a group and a pending
    entry, a fencing counter, gateway state, and short-lived records."""
    await redis.set("state:bot:b1", {"ledger": {"cash": "990"}, "seq": 4})
    await redis.set("state:farm:desired:b1", "stopped")
    await redis.stream_add("bot:b1:updates", {"cid": "b1-1"})
    await redis.stream_group("bot:b1:updates", _names.UPDATES_GROUP)
    await redis.stream_add("bot:b1:updates", {"cid": "b1-2"})
    got = await redis.stream_read("bot:b1:updates", _names.UPDATES_GROUP, "w", block_ms=None)
    assert [m.data["cid"] for m in got] == ["b1-1", "b1-2"]  # both pending (not acked)
    await redis.set("state:fence:bot:b1", 7)
    await redis.set(_names.fence("b1"), 3)  # a newer process already counted (lower)
    await redis.set("state:gw:open", {"b1-2": {"bot": "b1"}})
    await redis.set("state:gw:order:b1-2", {"status": "open"})
    await redis.stream_add("gw:commands", {"kind": "place", "cid": "b1-3"})
    await redis.set("state:farm:status:b1", {"state": "running"}, ttl_s=30)


@pytest.mark.asyncio(loop_scope="session")
async def test_old_layout_refuses_to_start_then_migrates_every_name(
    redis_client: RedisClient,
) -> None:
    redis = redis_client
    await _old_farm(redis)
    with pytest.raises(StoreConfigurationError, match="omega store migrate"):
        await check_layout(redis)
    dry = await migrate(redis, dry_run=True)
    assert not dry.done and len(dry.moves) == 8
    assert await redis.get("state:bot:b1") is not None  # a dry run changes nothing

    report = await migrate(redis)
    assert report.done and not report.conflicts
    assert (await redis.get(_names.bot_state("b1")))["seq"] == 4
    assert await redis.get(_names.desired("b1")) == "stopped"
    assert await redis.get_text(_names.fence("b1")) == "7"  # tokens never go back
    assert await redis.get(_names.GATEWAY_OPEN) == {"b1-2": {"bot": "b1"}}
    assert await redis.get(_names.order_record("b1-2")) == {"status": "open"}
    # the group and its pending entries moved with the stream: a new owner reclaims them
    pending = await redis.stream_reclaim(
        _names.updates("b1"), _names.UPDATES_GROUP, "w2", min_idle_ms=0
    )
    assert [m.data["cid"] for m in pending] == ["b1-1", "b1-2"]
    commands = await redis.stream_range(_names.COMMANDS)
    assert [m.data["cid"] for m in commands] == ["b1-3"]
    for old in ("state:bot:b1", "stream:bot:b1:updates", "stream:gw:commands",
                "state:farm:status:b1"):  # fmt: skip
        assert not await redis.exists(old)
    await check_layout(redis)  # starts now, and marks the layout
    assert await redis.get(_names.LAYOUT_KEY) == _names.LAYOUT
    again = await migrate(redis)
    assert again.moves == []


@pytest.mark.asyncio(loop_scope="session")
async def test_a_lease_of_an_old_worker_stops_the_migration_before_any_change(
    redis_client: RedisClient,
) -> None:
    redis = redis_client
    await redis.set("state:bot:b2", {"seq": 1})
    await redis.set("lock:lease:bot:b2", "old-worker|5", ttl_s=30)
    report = await migrate(redis)
    assert not report.done and [m.old for m in report.held] == ["lock:lease:bot:b2"]
    assert await redis.get("state:bot:b2") == {"seq": 1}
    assert not await redis.exists(_names.bot_state("b2"))


def test_cli_migrate_prints_the_plan_and_the_farm_commands_refuse_until_then(
    cli: CliRunner, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from prometheus_client import CollectorRegistry

    from omegafarm.store import RedisSettings

    farm = "mig" + __import__("uuid").uuid4().hex[:8]

    async def seed() -> None:
        settings = RedisSettings(url=SecretStr(redis_url), farm=farm)
        async with RedisClient(settings, metrics_registry=CollectorRegistry()) as redis:
            await redis.set("state:bot:b3", {"seq": 2})

    asyncio.run(seed())
    monkeypatch.setenv("OMEGA_REDIS__URL", redis_url)
    monkeypatch.setenv("OMEGA_REDIS__FARM", farm)
    refused = cli.invoke(app, ["bots", "list"])
    assert refused.exit_code == 1 and "omega store migrate" in refused.output
    dry = cli.invoke(app, ["store", "migrate", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "state:bot:b3 -> state:bot:{bot:b3}" in dry.output and "would migrate 1" in dry.output
    done = cli.invoke(app, ["store", "migrate"])
    assert done.exit_code == 0 and "did migrate 1 names" in done.output, done.output
    assert cli.invoke(app, ["bots", "list"]).exit_code == 0
    assert "nothing to migrate" in cli.invoke(app, ["store", "migrate"]).output

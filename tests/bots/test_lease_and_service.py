"""Leases with fencing tokens, the gateway's stale-command guard, and BotFarmService in one piece."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from omegafarm.bots.config import BotSettings, FarmSettings, load_farm_file
from omegafarm.bots.gateway import Gateway
from omegafarm.bots.lease import Leases
from omegafarm.bots.service import BotFarmService
from omegafarm.store import RedisClient, StreamMessage
from omegafarm.store import keys as _names
from tests.bots._gateways import hold_partitions
from tests.integration._farm import paper_exchange, wait_for


async def test_a_lease_has_one_holder_and_each_new_holder_a_larger_token(
    redis_client: RedisClient,
) -> None:
    a, b = Leases(redis_client, "wa", 5.0), Leases(redis_client, "wb", 5.0)
    first = await a.acquire("bot1")
    assert first is not None and await b.acquire("bot1") is None
    assert await a.renew(first) and await a.holder("bot1") == "wa"
    assert await a.release(first)
    second = await b.acquire("bot1")
    assert second is not None and second.token > first.token
    assert not await a.renew(first)  # the old holder can neither renew
    assert not await a.release(first)  # nor release
    assert not await a.fenced_set(first, "state:x", b"1")  # nor write the bot's state
    assert await b.fenced_set(second, "state:x", b"1")


async def test_gateway_drops_commands_with_a_stale_fencing_token(
    redis_client: RedisClient, tmp_path: Path
) -> None:
    exchange = paper_exchange(tmp_path)
    await exchange.initialize()
    gateway = Gateway(redis_client, exchange, FarmSettings(), set())
    await hold_partitions(gateway)  # the gateway executing every partition
    place = {"kind": "place", "symbol": "BTC/USDT", "side": "buy", "type": "market",
             "amount": "0.001", "price": None, "bot_id": "b1"}  # fmt: skip
    assert await gateway.orders.handle(StreamMessage("1-0", {**place, "cid": "b1-1", "token": 7}))
    assert await gateway.orders.handle(StreamMessage("2-0", {**place, "cid": "b1-2", "token": 6}))
    orders = await exchange.fetch_orders()
    assert [o.client_order_id for o in orders] == ["b1-1"]
    assert gateway.dropped_stale == 1
    await exchange.shutdown()


async def test_farm_service_runs_the_example_farm_and_exports_bot_metrics(
    redis_client: RedisClient, tmp_path: Path
) -> None:
    exchange = paper_exchange(tmp_path)
    await exchange.initialize()
    registry = CollectorRegistry()
    farm = tmp_path / "farm.toml"
    farm.write_text(
        '[[bots]]\nid = "sma_btc"\nstrategy = "sma_cross"\nsymbol = "BTC/USDT"\n'
        'capital = "5000"\nparams = { fast = 2, slow = 5 }\nmax_open_orders = 3\n'
    )
    service = BotFarmService(
        FarmSettings(farm_file=farm, lease_ttl_s=2.0, poll_interval_s=0.1),
        redis_client, exchange, metrics_registry=registry,
    )  # fmt: skip
    async with service:
        assert service.depends_on == ("redis", "exchange")

        async def traded() -> bool:
            status = await redis_client.get(_names.status("sma_btc"))
            return bool(status) and Decimal(str(status["position"])) != 0

        await wait_for(traded, 20, "the example bot to take a position")
        await service.collector.refresh()
        text = generate_latest(registry).decode()
        assert 'omega_bot_position{bot="sma_btc"}' in text
        assert 'omega_bot_max_drawdown{bot="sma_btc"}' in text
        assert (await service.health()).ready
        await redis_client.stream_group(_names.equity("sma_btc"), "t")
        samples = await redis_client.stream_read(_names.equity("sma_btc"), "t", "t", block_ms=None)
        assert samples and "equity" in samples[0].data
    await exchange.shutdown()
    assert load_farm_file(farm)[0] == BotSettings(
        id="sma_btc", strategy="sma_cross", symbol="BTC/USDT", capital=Decimal(5000),
        params={"fast": 2, "slow": 5}, max_open_orders=3,
    )  # fmt: skip


async def test_gateway_drops_commands_of_a_worker_whose_lease_was_taken_over(
    redis_client: RedisClient, tmp_path: Path
) -> None:
    exchange = paper_exchange(tmp_path)
    await exchange.initialize()
    old_owner, new_owner = Leases(redis_client, "wa", 0.3), Leases(redis_client, "wb", 5.0)
    old = await old_owner.acquire("b2")
    assert old is not None
    await wait_for(lambda: _gone(redis_client, "b2"), 5, "the old lease to expire")
    assert await new_owner.acquire("b2") is not None
    gateway = Gateway(redis_client, exchange, FarmSettings(), set())
    await hold_partitions(gateway)  # the gateway executing every partition
    place = {"kind": "place", "symbol": "BTC/USDT", "side": "buy", "type": "market",
             "amount": "0.001", "price": None, "bot_id": "b2", "cid": "b2-1"}  # fmt: skip
    assert await gateway.orders.handle(StreamMessage("1-0", {**place, "token": old.token}))
    assert await exchange.fetch_orders() == []  # the zombie's order never reached the exchange
    assert gateway.dropped_stale == 1
    await exchange.shutdown()


async def _gone(redis: RedisClient, bot_id: str) -> bool:
    return await Leases(redis, "probe", 1.0).holder(bot_id) is None

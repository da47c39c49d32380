"""Two gateways on one farm: one active, the other standing by; fencing by the gateway lease."""

from __future__ import annotations

import asyncio
from pathlib import Path

from omegafarm.bots.config import FarmSettings
from omegafarm.bots.gateway import Gateway
from omegafarm.store import RedisClient, StreamMessage
from omegafarm.store import keys as _names
from tests.bots._gateways import hold_partitions
from tests.integration._farm import paper_exchange, wait_for

SETTINGS = FarmSettings(lease_ttl_s=1.0, poll_interval_s=0.05, reconcile_interval_s=0)
PLACE = {"kind": "place", "symbol": "BTC/USDT", "side": "buy", "type": "market",
         "amount": "0.001", "price": None, "bot_id": "b1", "token": 1}  # fmt: skip


async def _true(value: bool) -> bool:
    return value


async def test_one_gateway_is_active_and_the_standby_takes_over_when_it_stops(
    redis_client: RedisClient, tmp_path: Path
) -> None:
    exchange = paper_exchange(tmp_path)
    await exchange.initialize()
    first = Gateway(redis_client, exchange, SETTINGS, set(), gateway_id="ga")
    second = Gateway(redis_client, exchange, SETTINGS, set(), gateway_id="gb")
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    t1 = asyncio.create_task(first.run(stop_first))
    await wait_for(lambda: _true(first.lease is not None), 10, "the first gateway active")
    t2 = asyncio.create_task(second.run(stop_second))
    try:
        await wait_for(lambda: _true(second.standby_tries >= 2), 10, "the standby trying")
        assert await second.lease_mgr.holder() == f"ga|{first.lease.token}"  # type: ignore[union-attr]
        assert second.lease is None

        stop_first.set()  # an orderly stop releases the lease
        await t1
        await wait_for(lambda: _true(second.lease is not None), 10, "the standby active")

        assert second.takeovers == 1
        assert (await second.lease_mgr.holder() or "").startswith("gb|")
    finally:
        stop_first.set()
        stop_second.set()
        await asyncio.gather(t1, t2)
        await exchange.shutdown()


async def test_a_gateway_whose_partition_lease_moved_executes_no_command(
    redis_client: RedisClient, tmp_path: Path
) -> None:
    exchange = paper_exchange(tmp_path)
    await exchange.initialize()
    old = Gateway(redis_client, exchange, SETTINGS, set(), gateway_id="old")
    p = old.partition_of("b1")
    assert await hold_partitions(old, p) == [p]
    await redis_client.delete(_names.partition_lease(p))  # it expired during a long pause...
    new = Gateway(redis_client, exchange, SETTINGS, set(), gateway_id="new")
    assert await hold_partitions(new, p) == [p]  # ...and another gateway took the partition
    assert new.partitions[p].lease.token > old.partitions[p].lease.token

    handled = await old.orders.handle(StreamMessage("1-0", {**PLACE, "cid": "b1-1"}))

    assert handled is False  # left pending for the partition's holder
    assert await exchange.fetch_orders() == []
    assert await new.orders.handle(StreamMessage("1-0", {**PLACE, "cid": "b1-1"}))
    assert [o.client_order_id for o in await exchange.fetch_orders()] == ["b1-1"]
    await exchange.shutdown()

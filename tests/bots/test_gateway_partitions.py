"""A gateway that scales out: commands partitioned over several gateways, in order per bot,
each executed once, fenced by the partitions' leases, sharing the farm-wide rate limit.

The multi-process tests run real gateway processes (``tests/bots/_gateway_proc.py``) on a
loopback Binance (a ccxt venue: its state is the server's, so partitions spread over the
processes) and the session's Valkey; one is killed with SIGKILL mid-stream.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from omegafarm.bots.config import FarmSettings
from omegafarm.bots.gateway import Gateway
from omegafarm.bots.gateway_partitions import command_stream, farm_partitions, partition_of
from omegafarm.bots.lease import Leases
from omegafarm.exchange import ExchangeService, ExchangeSettings
from omegafarm.exchange.paper import PaperSettings
from omegafarm.exchange.testing import RecordedRequest, Reply
from omegafarm.store import RedisClient, StreamMessage
from omegafarm.store import keys as _names
from tests.bots._gateways import hold_partitions
from tests.exchange._binance import MiniBinance
from tests.integration._farm import paper_exchange, wait_for

TTL_S = 2.0
ORDERS_PER_S = 8.0  # the farm-wide order budget (three processes: 24 if not shared)


def _place(bot: str, n: int, token: int = 1) -> dict[str, Any]:
    return {"kind": "place", "symbol": "BTC/USDT", "side": "buy", "type": "limit",
            "amount": "0.01", "price": "50000", "bot_id": bot, "cid": f"{bot}-{n}",
            "token": token}  # fmt: skip


async def _true(value: bool) -> bool:
    return value


# ----------------------------------------------------------------- the partition count
def test_a_bots_partition_is_stable_and_bots_spread_over_every_partition() -> None:
    bots = [f"bot{i}" for i in range(200)]
    first = [partition_of(b, 8) for b in bots]
    assert first == [partition_of(b, 8) for b in bots]  # the same in every process
    counts = Counter(first)
    assert set(counts) == set(range(8)) and min(counts.values()) >= 10


async def test_the_farms_partition_count_is_recorded_once_and_then_wins(
    redis_client: RedisClient,
) -> None:
    assert await farm_partitions(redis_client, 6) == 6
    assert await farm_partitions(redis_client, 3) == 6  # a process configured otherwise
    assert await farm_partitions(redis_client) == 6
    stream = await command_stream(redis_client, "sma_btc")
    assert stream == _names.partition_commands(partition_of("sma_btc", 6))
    assert "{gateway:p" in stream


# ----------------------------------------------------------------- in one process
async def test_three_gateways_share_the_partitions_and_run_each_command_once_in_order(
    redis_client: RedisClient, tmp_path: Path
) -> None:
    exchange = paper_exchange(tmp_path)  # in memory, shared: stands for an exchange's API
    await exchange.initialize()
    assert not exchange.venue_fenced
    settings = FarmSettings(lease_ttl_s=1.0, poll_interval_s=0.05, reconcile_interval_s=0,
                            gateway_partitions=6)  # fmt: skip
    gateways = [Gateway(redis_client, exchange, settings, set(), gateway_id=f"g{i}")
                for i in range(3)]  # fmt: skip
    stop = asyncio.Event()
    tasks = [asyncio.create_task(g.run(stop)) for g in gateways]
    try:

        async def shared() -> bool:
            held = [set(g.partitions) for g in gateways]
            return all(len(h) == 2 for h in held) and set().union(*held) == set(range(6))

        await wait_for(shared, 30, "6 partitions shared 2/2/2 by three gateways")
        bots = [f"b{i:02d}" for i in range(24)]
        for n in range(1, 6):
            for bot in bots:
                await redis_client.stream_add(await command_stream(redis_client, bot),
                                              _place(bot, n))  # fmt: skip

        async def all_placed() -> bool:
            return len(await exchange.fetch_orders("BTC/USDT")) >= len(bots) * 5

        await wait_for(all_placed, 60, "every command executed")
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    orders = sorted(await exchange.fetch_orders("BTC/USDT"), key=lambda o: int(o.id))
    cids = [o.client_order_id or "" for o in orders]
    assert len(cids) == len(set(cids)) == len(bots) * 5  # each command exactly once
    for bot in bots:  # in the order the bot sent them
        assert [c for c in cids if c.startswith(f"{bot}-")] == [f"{bot}-{n}" for n in range(1, 6)]
    assert all(g.commands_done > 0 for g in gateways)  # every gateway took part
    assert not await redis_client.get_text(_names.partition_lease(0))  # an orderly stop hands over
    await exchange.shutdown()


async def test_a_bot_whose_command_is_left_pending_runs_nothing_newer_until_it_is_done(
    redis_client: RedisClient, tmp_path: Path
) -> None:
    exchange = paper_exchange(tmp_path)
    await exchange.initialize()
    gateway = Gateway(redis_client, exchange, FarmSettings(), set(), gateway_id="g")
    p = gateway.partition_of("b1")
    await hold_partitions(gateway, p)
    term = gateway.partitions[p]
    term.loaded = True
    gateway.orders.legacy_drained = True
    stream = _names.partition_commands(p)
    await redis_client.stream_group(stream, _names.GATEWAY_GROUP)
    for message in (_place("b1", 2), _place("b1", 3), _place("b2", 1)):
        if partition_of(str(message["bot_id"]), gateway.partition_count) == p:
            await redis_client.stream_add(stream, message)
    gateway.orders.waiting[p] = {"b1": {"0-1"}}  # b1-1 failed for a moment: left pending

    await gateway.orders.commands_tick(p, term)

    cids = [o.client_order_id for o in await exchange.fetch_orders()]
    assert not [c for c in cids if c.startswith("b1-")]  # b1 waits for its older command
    assert await redis_client.stream_pending(stream, _names.GATEWAY_GROUP) == 2
    assert gateway.orders.waiting[p]["b1"] >= {"0-1"} and len(gateway.orders.waiting[p]["b1"]) == 3
    await exchange.shutdown()


async def test_a_stale_token_is_dropped_by_the_partitions_holder(
    redis_client: RedisClient, tmp_path: Path
) -> None:
    exchange = paper_exchange(tmp_path)
    await exchange.initialize()
    leases = Leases(redis_client, "w", 5.0)
    for _ in range(3):  # the bot moved between workers: its newest token is 3
        lease = await leases.acquire("b1")
        assert lease is not None
        await leases.release(lease)
    gateway = Gateway(redis_client, exchange, FarmSettings(), set())
    await hold_partitions(gateway, gateway.partition_of("b1"))

    assert await gateway.orders.handle(StreamMessage("1-0", _place("b1", 1, token=2)))
    assert await exchange.fetch_orders() == [] and gateway.dropped_stale == 1
    assert await gateway.orders.handle(StreamMessage("2-0", _place("b1", 2, token=3)))
    assert [o.client_order_id for o in await exchange.fetch_orders()] == ["b1-2"]
    await exchange.shutdown()


async def test_an_upgraded_farms_old_stream_and_open_orders_are_drained_by_the_primary(
    redis_client: RedisClient, tmp_path: Path
) -> None:
    exchange = paper_exchange(tmp_path)
    await exchange.initialize()
    for n in (1, 2):  # left by the single-stream gateway at the upgrade
        await redis_client.stream_add(_names.COMMANDS, _place("b1", n))
    old_open = {"b9-1": {"bot": "b9", "symbol": "BTC/USDT", "order_id": "77"}}
    await redis_client.set(_names.GATEWAY_OPEN, old_open)
    settings = FarmSettings(lease_ttl_s=1.0, poll_interval_s=0.05, reconcile_interval_s=0)
    gateway = Gateway(redis_client, exchange, settings, set(), gateway_id="g")
    stop = asyncio.Event()
    task = asyncio.create_task(gateway.run(stop))
    try:
        await wait_for(lambda: _true(len(gateway.partitions) == 4), 20, "every partition held")
        await redis_client.stream_add(await command_stream(redis_client, "b1"), _place("b1", 3))

        async def three() -> bool:
            return len(await exchange.fetch_orders()) == 3

        await wait_for(three, 20, "the old commands and the new one executed")
    finally:
        stop.set()
        await task
    orders = sorted(await exchange.fetch_orders(), key=lambda o: int(o.id))
    assert [o.client_order_id for o in orders] == ["b1-1", "b1-2", "b1-3"]  # old ones first
    assert await redis_client.stream_range(_names.COMMANDS) == []
    assert not await redis_client.exists(_names.GATEWAY_OPEN)
    p9 = partition_of("b9", 4)
    assert "b9-1" in (await redis_client.get(_names.partition_open(p9)) or {})
    await exchange.shutdown()


# ----------------------------------------------------------------- in real processes
class _SlowBinance(MiniBinance):
    """Creates take a moment (so a killed gateway has commands in flight); every create's
    arrival time is recorded (the farm-wide rate limit is checked on them)."""

    def __init__(self) -> None:
        super().__init__()
        self.created_at: list[float] = []

    async def handle(self, request: RecordedRequest) -> Reply:
        if request.path.endswith("/order") and request.method == "POST":
            self.created_at.append(time.monotonic())
            await asyncio.sleep(0.05)  # wait-ok: the exchange's own latency, not a test wait
        return await super().handle(request)


def _spawn(redis_url: str, farm: str, url: str, gateway_id: str, log: Path) -> Any:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.bots._gateway_proc", redis_url, farm, url, gateway_id,
             str(TTL_S), str(ORDERS_PER_S)],
            stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ),
        )  # fmt: skip


async def _holders(redis: RedisClient, count: int) -> dict[int, str | None]:
    out: dict[int, str | None] = {}
    for p in range(count):
        value = await redis.get_text(_names.partition_lease(p))
        out[p] = value.split("|")[0] if value else None
    return out


@pytest.mark.slow
async def test_kill_9_of_one_of_three_gateway_processes_loses_and_doubles_no_command(
    redis_client: RedisClient, redis_url: str, tmp_path: Path
) -> None:
    venue = _SlowBinance()
    farm = redis_client.settings.farm
    count = await farm_partitions(redis_client, 6)
    bots = [f"b{i:02d}" for i in range(18)]
    log = tmp_path / "gateways.log"
    async with venue.server:
        procs = {f"g{i}": _spawn(redis_url, farm, venue.server.url, f"g{i}", log) for i in range(3)}
        try:

            async def spread() -> bool:
                held = Counter((await _holders(redis_client, count)).values())
                return held.get(None, 0) == 0 and sorted(held.values()) == [2, 2, 2]

            await wait_for(spread, 90, "6 partitions spread 2/2/2 over three processes")
            for n in range(1, 4):
                for bot in bots:
                    await redis_client.stream_add(await command_stream(redis_client, bot),
                                                  _place(bot, n))  # fmt: skip
            await wait_for(lambda: _true(len(venue.created_client_ids) >= 5), 60, "placing")
            victim = "g1"
            killed = procs.pop(victim)
            killed.send_signal(signal.SIGKILL)  # mid-stream: commands in flight
            killed.wait(timeout=30)
            for n in range(4, 7):
                for bot in bots:
                    await redis_client.stream_add(await command_stream(redis_client, bot),
                                                  _place(bot, n))  # fmt: skip
            stale = {**_place("b00", 99), "token": 0}  # a zombie worker's command
            moved = await Leases(redis_client, "w", 5.0).acquire("b00")  # the lease moved on
            assert moved is not None and moved.token == 1
            await redis_client.stream_add(await command_stream(redis_client, "b00"), stale)

            async def taken_over() -> bool:
                owners = set((await _holders(redis_client, count)).values())
                return victim not in owners and None not in owners

            await wait_for(taken_over, 2 * TTL_S + 30, "the dead gateway's partitions taken")

            async def all_done() -> bool:
                return len(set(venue.created_client_ids)) >= len(bots) * 6

            await wait_for(all_done, 120, "every command executed")
        finally:
            for proc in procs.values():
                proc.send_signal(signal.SIGTERM)
            for proc in procs.values():
                proc.wait(timeout=30)
    created = venue.created_client_ids
    assert len(created) == len(set(created)) == len(bots) * 6, log.read_text()[-3000:]
    for bot in bots:  # each bot's orders reached the exchange in the order it sent them
        assert [c for c in created if c.startswith(f"{bot}-")] == [
            f"{bot}-{n}" for n in range(1, 7)
        ]
    assert "b00-99" not in created  # the stale token was dropped
    times = sorted(venue.created_at)  # one farm-wide order budget over three processes
    most = max(sum(1 for t in times if s <= t < s + 1.0) for s in times)
    assert (
        most <= 1 + ORDERS_PER_S + 3
    )  # burst + 1 s of rate (+3: arrival jitter); 3x if not shared


# ----------------------------------------------------------------- the paper venue
def _durable_paper(tmp: Path, redis: RedisClient, name: str) -> ExchangeService:
    """The farm's durable paper exchange as one process holds it (its own copy)."""
    paper = PaperSettings(symbols=["BTC/USDT"], speed=240.0, warmup_bars=50, perpetuals=False)
    settings = ExchangeSettings(exchange_id="paper", paper=paper,
                                ohlcv_cache_path=tmp / f"{name}.db")  # fmt: skip
    return ExchangeService(settings, redis=redis, metrics_registry=CollectorRegistry())


async def test_on_the_paper_exchange_every_partition_lives_with_the_primary(
    redis_client: RedisClient, tmp_path: Path
) -> None:
    first_ex = _durable_paper(tmp_path, redis_client, "a")
    second_ex = _durable_paper(tmp_path, redis_client, "b")
    await first_ex.initialize()
    await second_ex.initialize()
    assert first_ex.venue_fenced and second_ex.venue_fenced
    settings = FarmSettings(lease_ttl_s=1.0, poll_interval_s=0.05, reconcile_interval_s=0)
    first = Gateway(redis_client, first_ex, settings, set(), gateway_id="ga")
    second = Gateway(redis_client, second_ex, settings, set(), gateway_id="gb")
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    t1 = asyncio.create_task(first.run(stop_first))
    await wait_for(lambda: _true(len(first.partitions) == 4), 20, "the primary holds all 4")
    t2 = asyncio.create_task(second.run(stop_second))
    try:
        await wait_for(lambda: _true(second.standby_tries >= 3), 20, "the other standing by")
        assert second.partitions == {} and second.lease is None  # it may not touch the venue
        assert len(first.partitions) == 4

        stop_first.set()  # an orderly stop hands the primary lease and the partitions over
        await t1
        await wait_for(lambda: _true(len(second.partitions) == 4), 20, "all 4 moved with it")
        assert second.lease is not None
    finally:
        stop_first.set()
        stop_second.set()
        await asyncio.gather(t1, t2)
        await first_ex.shutdown()
        await second_ex.shutdown()


async def test_gateways_know_each_other_from_the_live_set_and_a_leaving_one_drops_out(
    redis_client: RedisClient, tmp_path: Path
) -> None:
    exchange = paper_exchange(tmp_path)
    g1, g2, g3 = (Gateway(redis_client, exchange, FarmSettings(), set(), gateway_id=g)
                  for g in ("g1", "g2", "g3"))  # fmt: skip
    await g2._beat(30.0)
    await g3._beat(0.001)  # its beat expires at once: a gateway that died

    async def g3_expired() -> bool:
        await g1._beat(30.0)
        return "g3" not in g1.live_gateways

    await wait_for(g3_expired, 5, "g3's beat to expire")
    seen_by_g1 = list(g1.live_gateways)

    await g2._hand_over_all()  # an orderly stop leaves the set
    await g1._beat(30.0)

    assert seen_by_g1 == ["g1", "g2"]
    assert g1.live_gateways == ["g1"]
    assert await redis_client.members_by_score(_names.GATEWAYS_LIVE, 0) == ["g1"]

"""kill -9 of a real ``omega up`` mid-trading, and of the active gateway with a standby.

After each: every bot trades again, no client order id was placed twice, no fill was lost,
every ledger equals the durable paper exchange's records to the last unit, and the
reconciliation the new gateway ran at take-over found nothing to halt.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from omegafarm.exchange.paper.journal import saved_state
from omegafarm.store import RedisClient
from omegafarm.store import keys as _names
from tests.faults._farm_procs import (
    TTL_S,
    at_least,
    audit,
    bot_holders,
    filled_orders,
    gateway_holder,
    kill9,
    spawn,
    stop_all_and_settle,
    terminate,
    write_config,
)
from tests.integration._farm import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("farm")]  # one farm at a time
N_BOTS = 8


async def _saved_clock_ms(redis: RedisClient) -> int:
    state = await saved_state(redis)
    assert state is not None
    return int(state["now_ms"])


async def test_kill_9_of_omega_up_and_restart_resume_the_same_exchange_with_exact_ledgers(
    redis_client: RedisClient, redis_url: str, tmp_path: Path
) -> None:
    farm = redis_client.settings.farm
    config = write_config(tmp_path, redis_url, farm, N_BOTS)
    ids = [f"b{i:02d}" for i in range(N_BOTS)]
    log = tmp_path / "up.log"
    first = spawn(config, log, "up")
    second = None
    try:
        await wait_for(lambda: filled_orders(redis_client), 120, "the farm trading (1 fill)")
        await wait_for(lambda: at_least(redis_client, 25), 90, "25 filled orders")
        kill9(first)  # mid-trading: orders in flight, fills being polled
        before = await filled_orders(redis_client)
        clock_before = await _saved_clock_ms(redis_client)

        second = spawn(config, log, "up")
        await wait_for(lambda: at_least(redis_client, before + 20), 120, "trading again")
        assert await _saved_clock_ms(redis_client) >= clock_before  # never back in time
        await stop_all_and_settle(redis_client, ids)
    finally:
        for proc in (first, second):
            if proc is not None:
                terminate(proc)

    report = await audit(redis_client, ids)
    assert report["orders"] >= before + 20, log.read_text()[-3000:]


async def test_kill_9_of_the_active_gateway_the_standby_takes_over_fenced(
    redis_client: RedisClient, redis_url: str, tmp_path: Path
) -> None:
    farm = redis_client.settings.farm
    config = write_config(tmp_path, redis_url, farm, N_BOTS)
    ids = [f"b{i:02d}" for i in range(N_BOTS)]
    log = tmp_path / "farm.log"
    standby_id = f"standby-{uuid.uuid4().hex[:6]}"
    up = spawn(config, log, "up")
    procs = [up]
    try:
        await wait_for(lambda: filled_orders(redis_client), 120, "the farm trading (1 fill)")
        procs.append(spawn(config, log, "gateway", "--gateway-id", standby_id))
        procs.append(spawn(config, log, "worker", "--lease-ttl", str(TTL_S)))
        active = await gateway_holder(redis_client)
        assert active is not None and active != standby_id  # omega up's gateway is active

        async def spread() -> bool:
            return len(set((await bot_holders(redis_client, ids)).values()) - {None}) == 2

        await wait_for(spread, 90, "bots spread over omega up's worker and the other worker")
        await wait_for(lambda: at_least(redis_client, 20), 90, "20 filled orders")

        async def standby_beating() -> bool:  # up, and trying the lease every TTL/3
            return await redis_client.exists(_names.gateway_heartbeat(standby_id)) == 1

        # a process starts slowly on a loaded machine: the take-over's deadline counts from here
        await wait_for(standby_beating, 60, "the standby gateway's first round (its heartbeat)")
        kill9(up)  # the active gateway and one worker die together
        before = await filled_orders(redis_client)

        async def standby_active() -> bool:
            return await gateway_holder(redis_client) == standby_id

        # the dead gateway's lease expires TTL after its last renewal; the standby tries every
        # TTL/3 (and starting the check takes a moment on a loaded machine)
        await wait_for(standby_active, 2 * TTL_S + 5, "the standby gateway active")
        await wait_for(lambda: at_least(redis_client, before + 15), 120, "trading again")
        await stop_all_and_settle(redis_client, ids)
    finally:
        for proc in procs:
            terminate(proc)

    report = await audit(redis_client, ids)
    assert report["orders"] >= before + 15, log.read_text()[-3000:]

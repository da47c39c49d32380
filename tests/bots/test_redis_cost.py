"""What a bot costs Redis, counted on a server of its own (MONITOR, see store/counting.py).

Issue 11's targets: ≤ 0.2 Redis commands per bot per second when idle, ≤ 5 per bot per candle,
counted as ``INFO commandstats`` counts them: a script call *and* every command it runs
inside (MONITOR shows those as coming from ``lua``), so a fenced save that checks a lease and
writes three keys is five commands, not one. The whole farm runs: a real gateway on the
paper exchange, the farm service (its metrics refresh and feed check) and one worker with
``BOTS`` bots that never trade (``tests.bots._hold:Hold``).

Idle: the paper clock is slowed so no candle closes (a one-minute bar every ~17 hours).
Each window opens after its start-up has settled. Window A (gateway and farm service, bots registered, no worker) is the farm's fixed cost;
window B adds the worker running every bot. Both last ``WINDOW_S``, a whole number of the
periods of every periodic job of the farm (the worker's balance rounds, TTL/2; the gateway's
rounds, TTL/3; its reclaim look and the farm service's refresh, 5 s), so both windows see the
same number of each: a 9 s window saw one or two 5 s jobs, and the difference B - A, taken per
command and floored at zero, kept the extras of B and not those of A. Per bot:
(B - A) / (BOTS * WINDOW_S) <= 0.2, and the whole farm's B / (BOTS * WINDOW_S) is printed.
With the TTL of 3 s used here a worker's round is 1.5 s, so the per-round commands (beat,
sweep) weigh 3.3 times what they do at the default TTL of 10 s: the test is pessimistic.

Per candle: the clock runs at one bar per 2 s; over a window of several bars every command of
the farm (gateway included) is divided by the bot-candles the bots processed (their feeds'
versions), so the fixed costs count against the target too.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from omegafarm.bots import _view
from omegafarm.bots.config import FarmSettings
from omegafarm.bots.metrics import REFRESH_S
from omegafarm.bots.service import BotFarmService
from omegafarm.bots.worker import Worker
from omegafarm.store import RedisClient, RedisSettings
from omegafarm.store import keys as _names
from omegafarm.store.counting import CommandCounter, CommandCounts
from tests.integration._farm import SYMBOLS, paper_exchange, wait_for

pytestmark = pytest.mark.slow

BOTS = 40
TTL_S = 3.0
WINDOW_S = 15.0  # 10 worker rounds, 15 gateway rounds, 3 reclaim looks and refreshes


def _farm_file(tmp: Path, n: int) -> Path:
    lines = []
    for i in range(n):
        lines += ["[[bots]]", f'id = "h{i:02d}"', 'strategy = "tests.bots._hold:Hold"',
                  f'symbol = "{SYMBOLS[i % len(SYMBOLS)]}"', 'capital = "1000"', ""]  # fmt: skip
    path = tmp / "farm.toml"
    path.write_text("\n".join(lines))
    return path


async def _own_server(tmp: Path) -> RedisClient:
    """An embedded Valkey of its own: MONITOR sees this farm only."""
    settings = RedisSettings(data_dir=tmp / "v", farm="cost")
    client = RedisClient(settings, metrics_registry=CollectorRegistry())
    await client.initialize()
    return client


def _report(name: str, counts: CommandCounts, per: float) -> dict[str, object]:
    return {
        "window": name,
        "client_per": round(counts.client_total / per, 4),
        "all_per": round(counts.total / per, 4),
        "client": dict(counts.client.most_common(8)),
        "script": dict(counts.script.most_common(8)),
    }


async def _observe(seconds: float) -> None:
    await asyncio.sleep(
        seconds
    )  # wait-ok: the length of a counting window, not a wait for an event


async def test_an_idle_bot_costs_at_most_0_2_redis_commands_a_second(tmp_path: Path) -> None:
    redis = await _own_server(tmp_path)
    exchange = paper_exchange(tmp_path, speed=0.001)  # one 1m bar per ~17 h: nothing closes
    await exchange.initialize()
    farm = FarmSettings(farm_file=_farm_file(tmp_path, BOTS), lease_ttl_s=TTL_S,
                        poll_interval_s=0.25, history_bars=50, run_worker=False)  # fmt: skip
    service = BotFarmService(farm, redis, exchange, metrics_registry=CollectorRegistry())
    window_s = WINDOW_S
    assert window_s % REFRESH_S == 0 and window_s % (TTL_S / 2) == 0  # whole periods
    stop = asyncio.Event()
    worker = Worker(redis, farm, "w-cost")
    try:
        async with service:
            await wait_for(lambda: _history_ready(redis), 30, "the gateway's first history")
            gateway = service.gateway
            assert gateway is not None

            async def gateway_settled() -> bool:  # every partition held and loaded
                terms = gateway.partitions.values()
                return len(terms) == gateway.partition_count and all(t.loaded for t in terms)

            await wait_for(gateway_settled, 30, "the gateway holding every partition")
            async with CommandCounter(redis) as counter:
                # settle, as before window B: the gateway's start-up (its take-over's
                # reconciliation of every bot, the first reclaims) is over before window A
                # opens, else A holds start-up reads and fewer of the steady loops' commands
                await _observe(max(TTL_S, REFRESH_S) + 1)
                counter.take()
                await _observe(window_s)
                fixed = counter.take()
                task = asyncio.create_task(worker.run(stop))

                async def all_running() -> bool:
                    return sum(r["state"] == "running" for r in await _view.rows(redis)) == BOTS

                await wait_for(all_running, 60, "every bot running")
                # settle: the start-up's reads, first sweeps and the service's one-off "running"
                # events (it looks every REFRESH_S) are over before the window opens
                await _observe(max(TTL_S, REFRESH_S) + 1)
                counter.take()
                await _observe(window_s)
                running = counter.take()
            stop.set()
            await task
    finally:
        stop.set()
        await exchange.shutdown()
        await redis.shutdown()

    per_bot_s = BOTS * window_s
    bots_cost = running.minus(fixed)
    print(json.dumps([_report("fixed (gateway + service)", fixed, per_bot_s),
                      _report("farm with bots", running, per_bot_s),
                      _report("bots only (B - A)", bots_cost, per_bot_s)]))  # fmt: skip
    assert len(worker.bots) == 0  # stopped cleanly (the counts above are of running bots)
    assert bots_cost.total / per_bot_s <= 0.2  # commands run inside scripts included
    # no per-bot polling of update streams: the worker's reads (B - A; the gateway's blocking
    # command reads are the farm's fixed cost) are far fewer than one per bot per window
    assert bots_cost.client.get("xreadgroup", 0) < BOTS


async def _history_ready(redis: RedisClient) -> bool:
    return all([await redis.exists(_names.history(s, "1m")) for s in SYMBOLS])


async def test_a_candle_costs_a_bot_at_most_5_redis_commands(tmp_path: Path) -> None:
    redis = await _own_server(tmp_path)
    exchange = paper_exchange(tmp_path, speed=30.0)  # one 1m bar per symbol every 2 s
    await exchange.initialize()
    farm = FarmSettings(farm_file=_farm_file(tmp_path, BOTS), lease_ttl_s=TTL_S,
                        poll_interval_s=0.25, history_bars=50)  # fmt: skip
    service = BotFarmService(farm, redis, exchange, metrics_registry=CollectorRegistry())
    try:
        async with service:
            worker = service.worker
            assert worker is not None

            def versions() -> dict[str, int]:
                return {i: b.trader.feed.version for i, b in worker.bots.items() if b.trader}

            def candles_seen() -> int:
                return sum(versions().values())

            async def all_running() -> bool:
                return sum(r["state"] == "running" for r in await _view.rows(redis)) == BOTS

            await wait_for(all_running, 90, "every bot running")
            first = versions()

            async def all_hearing() -> bool:
                now = versions()
                return len(now) == BOTS and all(now[b] > first.get(b, now[b]) for b in now)

            await wait_for(all_hearing, 30, "every bot hearing candles")
            async with CommandCounter(redis) as counter:
                start = candles_seen()
                await _observe(5 * TTL_S)  # several bars and balance rounds
                counts = counter.take()
                processed = candles_seen() - start
    finally:
        await exchange.shutdown()
        await redis.shutdown()

    print(json.dumps(_report("per bot-candle", counts, max(1, processed)) | {"candles": processed}))
    assert processed >= 2 * BOTS  # the window saw candles for every bot
    assert counts.total / processed <= 5  # commands run inside scripts included

"""Failover: time from a kill -9 to "every bot trading again", against the lease TTL.

A farm of real processes on an embedded Valkey: two ``omega gateway`` (one active, one
standby), three ``omega worker`` and 8 SMA bots on the durable paper exchange at speed 240.
Each trial kills one process with SIGKILL and measures until every bot has handled a market
event published after the kill (its status record is newer than the kill + 0.3 s) and the
exchange has made a new fill (commands flow again); a replacement process is then started.

    gateway kill: the active gateway dies; the standby takes the lease (it expires TTL after
                  the last renewal; the standby tries every TTL/3), reloads the exchange,
                  reclaims the pending commands, reconciles every bot.
    worker kill:  the worker with the most bots dies; its bots' leases expire and the other
                  workers (looking every TTL/3) take them, reload their state and reconcile.

Baseline: the lease TTL (goal: ratio <= 2 for each). Usage: python bench/failover_gateway.py [TRIALS]
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from prometheus_client import CollectorRegistry

from omegafarm.bots.config import BotSettings
from omegafarm.bots.service import register_bots
from omegafarm.exchange.paper.journal import saved_state
from omegafarm.store import RedisClient, RedisSettings
from omegafarm.store import keys as _names

TTL_S = 3.0
SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"]
N_BOTS = 8
PAPER_KEY = _names.PAPER_STATE


def _config(tmp: Path, url: str) -> Path:
    symbols = ", ".join(f'"{s}"' for s in SYMBOLS)
    path = tmp / "omega.toml"
    path.write_text(
        f"""
[redis]
url = "{url}"
farm = "bench"
[exchange]
exchange_id = "paper"
ohlcv_cache_path = "{tmp / "ohlcv.sqlite3"}"
[exchange.paper]
symbols = [{symbols}]
speed = 240.0
warmup_bars = 200
perpetuals = false
initial_balances = {{ USDT = "1000000" }}
[bots]
lease_ttl_s = {TTL_S}
poll_interval_s = 0.1
history_bars = 100
""",
        encoding="utf-8",
    )
    return path


def _bots() -> list[BotSettings]:
    return [
        BotSettings.model_validate(
            {
                "id": f"b{i:02d}",
                "strategy": "sma_cross",
                "symbol": SYMBOLS[i % 4],
                "capital": "20000",
                "params": {"fast": 2 + i % 3, "slow": 6 + i % 4},
            }
        )
        for i in range(N_BOTS)
    ]


class Farm:
    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, kind: str, name: str) -> None:
        option = "--gateway-id" if kind == "gateway" else "--worker-id"
        with self.log.open("ab") as out:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "omegafarm", "--log-level", "warning", "-c",
                 str(self.config), kind, option, name],
                stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ),
            )  # fmt: skip

    def kill9(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


async def _holder(redis: RedisClient, key: str) -> str | None:
    value = await redis.get_text(key)
    return None if value is None else value.split("|")[0]


async def _fills(redis: RedisClient) -> int:
    state = await saved_state(redis)
    return 0 if state is None else int(state["fill_seq"])


async def _all_fresh(redis: RedisClient, ids: list[str], after_ms: int, dead: str) -> bool:
    for bot_id in ids:
        status = await redis.get(_names.status(bot_id))
        holder = await _holder(redis, _names.lease(bot_id))
        if not status or status["updated_ms"] <= after_ms or holder in (None, dead):
            return False
    return True


async def _until(check: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"failover bench: timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def _recovery_s(redis: RedisClient, ids: list[str], dead: str, t0: float) -> float:
    """Seconds from the kill at ``t0`` until every bot hears new events and a new fill."""
    after_ms = int((t0 + 0.3) * 1000)
    fills0 = await _fills(redis)

    async def back() -> bool:
        fresh = await _all_fresh(redis, ids, after_ms, dead)
        return fresh and await _fills(redis) > fills0

    await _until(back, 120, f"every bot trading again after killing {dead}")
    return time.time() - t0


async def _trial_gateway(farm: Farm, redis: RedisClient, ids: list[str], k: int) -> float:
    active = await _holder(redis, _names.GATEWAY_LEASE)
    assert active is not None
    t0 = time.time()
    farm.kill9(active)
    took = await _recovery_s(redis, ids, active, t0)
    farm.spawn("gateway", f"g{k + 2}")  # the next standby
    return took


async def _trial_worker(farm: Farm, redis: RedisClient, ids: list[str], k: int) -> float:
    held = Counter([await _holder(redis, _names.lease(b)) for b in ids])
    victim = next(w for w, _ in held.most_common() if w is not None)
    t0 = time.time()
    farm.kill9(victim)
    took = await _recovery_s(redis, ids, victim, t0)
    farm.spawn("worker", f"w{k + 3}")

    async def spread() -> bool:
        owners = {await _holder(redis, _names.lease(b)) for b in ids}
        return len(owners - {None}) == 3

    await _until(spread, 120, "bots spread over three workers again")
    return took


async def main(trials: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="omega-failover-"))
    server = RedisClient(
        RedisSettings(data_dir=tmp / "valkey", farm="bench"), metrics_registry=CollectorRegistry()
    )
    await server.initialize()
    assert server.embedded is not None
    url = server.embedded.address.url()
    specs = _bots()
    ids = [b.id for b in specs]
    await register_bots(server, specs)
    farm = Farm(_config(tmp, url), tmp / "farm.log")
    rows: dict[str, list[float]] = {"gateway kill": [], "worker kill": []}
    try:
        farm.spawn("gateway", "g0")
        farm.spawn("gateway", "g1")
        for k in range(3):
            farm.spawn("worker", f"w{k}")

        async def trading() -> bool:
            owners = {await _holder(server, _names.lease(b)) for b in ids}
            return len(owners - {None}) == 3 and await _fills(server) >= 10

        await _until(trading, 180, "the farm trading on three workers")
        for k in range(trials):
            rows["gateway kill"].append(await _trial_gateway(farm, server, ids, k))
            rows["worker kill"].append(await _trial_worker(farm, server, ids, k))
    finally:
        farm.stop()
        await server.shutdown()
    medians = {name: statistics.median(values) for name, values in rows.items()}
    for name, values in rows.items():
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(f"{name:<13}: median {medians[name]:.2f} s = {medians[name] / TTL_S:.2f} x TTL "
              f"({runs})")  # fmt: skip
    worst = max(medians.values())
    print(
        json.dumps(
            {
                "bench": "failover_gateway",
                "ours": round(worst, 3),
                "baseline": TTL_S,
                "baseline_name": "lease TTL (goal: every row <= 2x); ours = the slower row's median",
                "unit": "s",
                "ratio": round(worst / TTL_S, 3),
                "better": "lower",
                "rows": {k: round(v, 3) for k, v in medians.items()},
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))

"""Failover: time from a fault to every bot trading again, against the lease TTL.

A farm of 12 bots on a real Valkey server (TCP, ``appendfsync everysec``), the gateway and the
paper exchange in this process (speed 240: a 1m candle every 0.25 s), three ``omega worker``
processes. "Trading again" = every bot has written its status record (a bot does after each
candle it handles) after the fault. Faults, 5 times each (median):

* worker kill: SIGKILL of a worker (4 of the 12 bots); a new worker replaces it after, and the
  next trial starts once the farm is steady again (3 workers x 4 bots, all trading);
* Redis restart: SIGKILL of the server, restarted at once on the same data;
* Sentinel failover: the farm on ``redis+sentinel://`` (1 master, 1 replica, 3 sentinels,
  ``down-after-milliseconds`` 1000); SIGKILL of the master, the replica is promoted (the old
  master rejoins as a replica before the next trial);
* cluster failover: the farm on ``redis+cluster://`` (3 masters + 3 replicas,
  ``cluster-node-timeout`` 2000); SIGKILL of the master serving the ``{gateway}`` slot (every
  order goes through it), its replica is promoted (the old master, restarted on its files,
  rejoins as a replica before the next trial).

During the Redis restarts a probe appends numbers to a stream as fast as the server answers;
``acknowledged_writes_lost`` counts the acknowledged ones the restarted server no longer has
(``appendfsync everysec`` writes the file before replying: a process kill loses none; see
docs/store.md "What a crash can lose").

The baseline is the lease TTL (the issue's goal: each fault recovered within 2 TTLs; ratio =
median / TTL). Usage: ``python bench/failover.py [trials] [ttl_s] [cases]`` (cases: a comma list
of ``single`` (worker kill, Redis restart), ``sentinel``, ``cluster``; all by default).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from omegafarm.bots import _view
from omegafarm.bots.config import BotSettings, FarmSettings
from omegafarm.bots.gateway import Gateway
from omegafarm.bots.service import register_bots
from omegafarm.core.errors import OmegaError
from omegafarm.exchange import ExchangeService, ExchangeSettings
from omegafarm.exchange.paper import PaperSettings
from omegafarm.store import RedisClient, RedisSettings
from omegafarm.store import keys as _names
from omegafarm.store.testing import (
    SentinelGroup,
    ValkeyCluster,
    ValkeyServers,
    cli,
    free_ports,
    key_slot,
    wait_until,
)

SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"]
BOTS = 12


def _bots() -> list[BotSettings]:
    return [
        BotSettings(id=f"b{i:02d}", strategy="sma_cross", symbol=SYMBOLS[i % 4],
                    capital=Decimal(20_000), params={"fast": 2 + i % 3, "slow": 6 + i % 4})
        for i in range(BOTS)
    ]  # fmt: skip


async def _spawn(url: str, name: str, ttl_s: float, log: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "OMEGA_REDIS__URL": url, "OMEGA_REDIS__FARM": "bench"}
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "omegafarm", "--log-level", "warning", "worker",
            "--lease-ttl", str(ttl_s), "--worker-id", name,
            env=env, stdout=out, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip


async def _statuses(redis: RedisClient) -> dict[str, dict[str, Any]]:
    out = {}
    for i in range(BOTS):
        with_status = await redis.get(_names.status(f"b{i:02d}"))
        if with_status:
            out[f"b{i:02d}"] = with_status
    return out


async def _all_trading_after(redis: RedisClient, t_ms: int, timeout_s: float) -> float:
    """Seconds from ``t_ms`` until every bot wrote a status after it (inf on timeout)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            statuses = await _statuses(redis)
        except OmegaError:
            statuses = {}
        if len(statuses) == BOTS and all(s["updated_ms"] > t_ms for s in statuses.values()):
            return time.time() - t_ms / 1000
        await asyncio.sleep(0.02)
    return float("inf")


async def _settle(redis: RedisClient, timeout_s: float = 120) -> None:
    """Wait until 3 workers hold 4 bots each and every bot traded since (a steady farm)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            held = Counter([await _view.holder(redis, f"b{i:02d}") for i in range(BOTS)])
        except OmegaError:
            held = Counter()
        if None not in held and sorted(held.values()) == [4, 4, 4]:
            await _all_trading_after(redis, int(time.time() * 1000), 60)
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("the farm did not settle on 3 workers x 4 bots")


class Farm:
    """Gateway + paper exchange here, three ``omega worker`` processes, on Redis at ``url``."""

    def __init__(self, url: str, ttl_s: float, tmp: Path) -> None:
        self.url, self.ttl_s, self.tmp = url, ttl_s, tmp
        self.redis = RedisClient(
            RedisSettings(url=SecretStr(url), farm="bench", reconnect_max_backoff_s=0.25,
                          socket_timeout_s=1, connect_timeout_s=0.5),
            metrics_registry=CollectorRegistry(),
        )  # fmt: skip
        paper = PaperSettings(symbols=SYMBOLS, speed=240.0, warmup_bars=200, perpetuals=False,
                              initial_balances={"USDT": Decimal(1_000_000)})  # fmt: skip
        self.exchange = ExchangeService(
            ExchangeSettings(exchange_id="paper", paper=paper, ohlcv_cache_path=tmp / "c.db"),
            metrics_registry=CollectorRegistry(),
        )
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self._stop = asyncio.Event()
        self._gw: asyncio.Task[None] | None = None
        self._spawned = 0

    async def start(self) -> None:
        await self.redis.initialize()
        await self.exchange.initialize()
        specs = _bots()
        await register_bots(self.redis, specs)
        farm = FarmSettings(lease_ttl_s=self.ttl_s, poll_interval_s=0.1, history_bars=100)
        gateway = Gateway(self.redis, self.exchange, farm, {(b.symbol, b.timeframe) for b in specs})
        self._gw = asyncio.create_task(gateway.run(self._stop))
        for _ in range(3):
            await self.spawn_worker()
        await _settle(self.redis)  # the workers start and share the bots

    async def spawn_worker(self) -> None:
        name = f"w{self._spawned}"
        self._spawned += 1
        self.procs[name] = await _spawn(self.url, name, self.ttl_s, self.tmp / f"{name}.log")

    async def kill_worker(self) -> None:
        held = [await _view.holder(self.redis, f"b{i:02d}") for i in range(BOTS)]
        victim = str(Counter(h for h in held if h is not None).most_common(1)[0][0])
        self.procs[victim].send_signal(signal.SIGKILL)
        await self.procs.pop(victim).wait()

    async def audit(self) -> dict[str, int]:
        """Orders the exchange knows, filled ones, and client order ids seen twice (must be 0)."""
        orders = await self.exchange.fetch_orders()
        cids = Counter(str(o.client_order_id) for o in orders)
        return {"orders": len(orders), "filled": len([o for o in orders if o.filled]),
                "duplicate_cids": sum(n - 1 for n in cids.values() if n > 1)}  # fmt: skip

    async def stop(self) -> None:
        self._stop.set()
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            await proc.wait()
        if self._gw is not None:
            await self._gw
        await self.exchange.shutdown()
        await self.redis.shutdown()


async def _trials(farm: Farm, name: str, trials: int, fault: Any, repair: Any) -> list[float]:
    out = []
    for trial in range(trials):
        fault_ms = int(time.time() * 1000)
        await fault()
        out.append(await _all_trading_after(farm.redis, fault_ms, 60))
        await repair()
        await _settle(farm.redis)  # steady again: 3 workers x 4 bots, all trading
        print(f"{name} {trial + 1}: {out[-1]:.2f} s", flush=True)
    return out


AUDITS: dict[str, dict[str, int]] = {}
PROBE: dict[str, int] = {"acknowledged": 0, "lost": 0}


async def _probe(redis: RedisClient, stop: asyncio.Event) -> None:
    """Append 0, 1, 2... to a stream; count the acknowledged numbers the server lost."""
    acked: list[int] = []
    n = 0
    while not stop.is_set():
        try:
            await redis.stream_add("bench:probe", n)
        except OmegaError:
            await asyncio.sleep(0.01)
        else:
            acked.append(n)
        n += 1
    present = {int(m.data) for m in await redis.stream_range("bench:probe")}
    PROBE["acknowledged"] += len(acked)
    PROBE["lost"] += len(set(acked) - present)


CASES = ("single", "sentinel", "cluster")


async def run(trials: int, ttl_s: float, cases: tuple[str, ...] = CASES) -> dict[str, list[float]]:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    tmp = Path(tempfile.mkdtemp(prefix="failover"))
    results: dict[str, list[float]] = {}

    if "single" in cases:
        await _single(trials, ttl_s, tmp, results)
    if "sentinel" in cases:
        await _sentinel(trials, ttl_s, tmp, results)
    if "cluster" in cases:
        await _cluster(trials, ttl_s, tmp, results)
    return results


async def _single(trials: int, ttl_s: float, tmp: Path, results: dict[str, list[float]]) -> None:
    server = ValkeyServers(tmp / "single")
    (port,) = free_ports(1)
    server.spawn(port, ["appendonly yes", "appendfsync everysec"])
    farm = Farm(f"redis://127.0.0.1:{port}", ttl_s, tmp)
    try:
        await farm.start()

        async def redis_kill() -> None:
            server.kill(port)
            server.restart(port)  # at once, on the same data

        async def nothing() -> None:
            return None

        results["worker_kill"] = await _trials(farm, "worker kill", trials, farm.kill_worker,
                                               farm.spawn_worker)  # fmt: skip
        probe_stop = asyncio.Event()
        probe = asyncio.create_task(_probe(farm.redis, probe_stop))
        results["redis_restart"] = await _trials(farm, "redis restart", trials, redis_kill,
                                                 nothing)  # fmt: skip
        probe_stop.set()
        await probe
        AUDITS["single_server"] = await farm.audit()
    finally:
        await farm.stop()
        server.stop()


async def _sentinel(trials: int, ttl_s: float, tmp: Path, results: dict[str, list[float]]) -> None:
    group = SentinelGroup(tmp / "sentinel").start()
    farm = Farm(group.url, ttl_s, tmp)
    killed: list[int] = []
    try:
        await farm.start()

        killed_at: list[float] = []

        async def master_kill() -> None:
            killed.append(group.master())
            killed_at.append(time.monotonic())
            group.kill(killed[-1])  # the sentinels promote the replica

        async def rejoin() -> None:  # the old master comes back as the new master's replica
            await asyncio.to_thread(group.restart, killed[-1])
            await asyncio.to_thread(
                wait_until,
                lambda: "master_link_status:up" in cli(killed[-1], "info", "replication"),
                60,
                "the old master to replicate the new one",
            )
            # a sentinel starts no new failover of the same group within 2 x failover-timeout
            await asyncio.sleep(max(0.0, killed_at[-1] + 10.5 - time.monotonic()))

        results["sentinel_failover"] = await _trials(farm, "sentinel failover", trials,
                                                     master_kill, rejoin)  # fmt: skip
        AUDITS["sentinel"] = await farm.audit()
    finally:
        await farm.stop()
        group.stop()


async def _cluster(trials: int, ttl_s: float, tmp: Path, results: dict[str, list[float]]) -> None:
    cluster = ValkeyCluster(tmp / "cluster", masters=3, replicas=1)
    await asyncio.to_thread(cluster.start)
    farm = Farm(cluster.url, ttl_s, tmp)
    victims: list[int] = []
    try:
        await farm.start()
        slot = key_slot(farm.redis.keys.key(_names.GATEWAY_LEASE))

        async def cluster_master_kill() -> None:
            victims.append(cluster.port_of_slot(slot))
            cluster.kill(victims[-1])  # its replica is promoted after cluster-node-timeout

        async def cluster_rejoin() -> None:  # the old master comes back as a replica
            await asyncio.to_thread(cluster.restart, victims[-1])
            await asyncio.to_thread(cluster.wait_ok, 60)

        results["cluster_failover"] = await _trials(farm, "cluster failover", trials,
                                                    cluster_master_kill, cluster_rejoin)  # fmt: skip
        AUDITS["cluster"] = await farm.audit()
    finally:
        await farm.stop()
        cluster.stop()


def main(trials: int = 5, ttl_s: float = 3.0, cases: tuple[str, ...] = CASES) -> None:
    results = asyncio.run(run(trials, ttl_s, cases))
    medians = {k: statistics.median(v) for k, v in results.items()}
    for kind, values in results.items():
        print(f"{kind}: median {medians[kind]:.2f} s over {values} (lease TTL {ttl_s} s)")
    for where, audit in AUDITS.items():
        print(f"{where}: {audit['orders']} orders ({audit['filled']} filled),"
              f" {audit['duplicate_cids']} duplicate client order ids")  # fmt: skip
    print(f"redis restarts: {PROBE['lost']} of {PROBE['acknowledged']} acknowledged probe"
          " writes lost")  # fmt: skip
    worst = max(medians.values())
    print(
        json.dumps(
            {
                "bench": "failover",
                "ours": round(worst, 3),
                "baseline": ttl_s,
                "baseline_name": "lease TTL (goal: every fault recovered within 2 TTLs)",
                "unit": "s from fault to every bot trading again (median of "
                f"{trials}, worst fault kind)",
                "ratio": round(worst / ttl_s, 3),
                "better": "lower",
                **{f"{k}_median_s": round(v, 3) for k, v in medians.items()},
                **{f"{k}_ratio": round(v / ttl_s, 3) for k, v in medians.items()},
                "acknowledged_writes": PROBE["acknowledged"],
                "acknowledged_writes_lost": PROBE["lost"],
                "duplicate_cids": sum(a["duplicate_cids"] for a in AUDITS.values()),
                "orders": sum(a["orders"] for a in AUDITS.values()),
            }
        )
    )


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 5,
        float(sys.argv[2]) if len(sys.argv) > 2 else 3.0,
        tuple(sys.argv[3].split(",")) if len(sys.argv) > 3 else CASES,
    )

"""Failover: time from a fault to every bot trading again, against the lease TTL.

A farm of 12 bots on a real Valkey server (TCP, ``appendfsync everysec``), the gateway and the
paper exchange in this process (speed 240: a 1m candle every 0.25 s), three ``omega worker``
processes. "Trading again" = every bot has written its status record (a bot does after each
candle it handles) after the fault. Faults, 5 times each (median):

* worker kill: SIGKILL of a worker (4 of the 12 bots); a new worker replaces it after, and the
  next trial starts once the farm is steady again (3 workers x 4 bots, all trading);
* Redis restart: SIGKILL of the server, restarted at once on the same data.

The baseline is the lease TTL (the issue's goal: each fault recovered within 2 TTLs; ratio =
median / TTL). Usage: ``python bench/failover.py [trials] [ttl_s]``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
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

from omegafarm.bots import _names, _view
from omegafarm.bots.config import BotSettings, FarmSettings
from omegafarm.bots.gateway import Gateway
from omegafarm.bots.service import register_bots
from omegafarm.core.errors import OmegaError
from omegafarm.exchange import ExchangeService, ExchangeSettings
from omegafarm.exchange.paper import PaperSettings
from omegafarm.store import RedisClient, RedisSettings
from omegafarm.store.embedded import server_binary

SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"]
BOTS = 12


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One valkey-server on a loopback port, SIGKILL-able and restartable on its data."""

    def __init__(self, root: Path) -> None:
        self.port = _free_port()
        self.conf = root / "valkey.conf"
        self.conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\nprotected-mode no\ndir {root}\n"
            'save ""\nappendonly yes\nappendfsync everysec\nlogfile server.log\n'
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(  # our own binary, fixed arguments
            [str(server_binary()), str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.01)
        raise RuntimeError("valkey-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()


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


async def run(trials: int, ttl_s: float) -> dict[str, list[float]]:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    tmp = Path(tempfile.mkdtemp(prefix="failover"))
    server = Server(tmp)
    server.start()
    url = f"redis://127.0.0.1:{server.port}"
    redis = RedisClient(
        RedisSettings(url=SecretStr(url), farm="bench", reconnect_max_backoff_s=0.25,
                      socket_timeout_s=1, connect_timeout_s=0.5),
        metrics_registry=CollectorRegistry(),
    )  # fmt: skip
    await redis.initialize()
    paper = PaperSettings(symbols=SYMBOLS, speed=240.0, warmup_bars=200, perpetuals=False,
                          initial_balances={"USDT": Decimal(1_000_000)})  # fmt: skip
    exchange = ExchangeService(
        ExchangeSettings(exchange_id="paper", paper=paper, ohlcv_cache_path=tmp / "c.db"),
        metrics_registry=CollectorRegistry(),
    )
    await exchange.initialize()
    specs = _bots()
    await register_bots(redis, specs)
    farm = FarmSettings(lease_ttl_s=ttl_s, poll_interval_s=0.1, history_bars=100)
    stop = asyncio.Event()
    gateway = Gateway(redis, exchange, farm, {(b.symbol, b.timeframe) for b in specs})
    gw_task = asyncio.create_task(gateway.run(stop))
    procs = {f"w{k}": await _spawn(url, f"w{k}", ttl_s, tmp / f"w{k}.log") for k in range(3)}
    results: dict[str, list[float]] = {"worker_kill": [], "redis_restart": []}
    try:
        await _settle(redis)  # the workers start and share the bots
        for trial in range(trials):
            holders = Counter([await _view.holder(redis, f"b{i:02d}") for i in range(BOTS)])
            victim = str(holders.most_common(1)[0][0])
            fault_ms = int(time.time() * 1000)
            procs[victim].send_signal(signal.SIGKILL)
            await procs[victim].wait()
            results["worker_kill"].append(await _all_trading_after(redis, fault_ms, 60))
            name = f"w{3 + trial}"
            procs[name] = await _spawn(url, name, ttl_s, tmp / f"{name}.log")
            del procs[victim]
            await _settle(redis)  # the replacement has taken its share
            print(f"worker kill {trial + 1}: {results['worker_kill'][-1]:.2f} s", flush=True)
        for trial in range(trials):
            fault_ms = int(time.time() * 1000)
            server.kill()
            server.start()
            results["redis_restart"].append(await _all_trading_after(redis, fault_ms, 60))
            await _settle(redis)
            print(f"redis restart {trial + 1}: {results['redis_restart'][-1]:.2f} s", flush=True)
    finally:
        stop.set()
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            await proc.wait()
        await gw_task
        await exchange.shutdown()
        await redis.shutdown()
        server.kill()
    return results


def main(trials: int = 5, ttl_s: float = 3.0) -> None:
    results = asyncio.run(run(trials, ttl_s))
    medians = {k: statistics.median(v) for k, v in results.items()}
    for kind, values in results.items():
        print(f"{kind}: median {medians[kind]:.2f} s over {values} (lease TTL {ttl_s} s)")
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
                "worker_kill_median_s": round(medians["worker_kill"], 3),
                "redis_restart_median_s": round(medians["redis_restart"], 3),
                "worker_kill_ratio": round(medians["worker_kill"] / ttl_s, 3),
                "redis_restart_ratio": round(medians["redis_restart"] / ttl_s, 3),
            }
        )
    )


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 5,
        float(sys.argv[2]) if len(sys.argv) > 2 else 3.0,
    )

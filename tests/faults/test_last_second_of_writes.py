""" "At most the last second of writes with ``appendfsync everysec``": prove it loses no order.

The farm runs on the embedded Valkey (``omega up`` starts it in its data dir with ``appendonly
yes``/``appendfsync everysec``; a second ``omega worker`` adopts it). Two faults:

* kill -9 of the valkey-server process while orders flow. ``omega up``'s supervisor restarts it
  on the same files at once. The server wrote (``write(2)``) every acknowledged command to the
  append-only file before replying, so the kernel still has it: a probe counter incremented
  without pause shows how many acknowledged writes were lost (0), and the farm goes on;
* a machine crash, simulated exactly: the server is frozen (SIGSTOP), every farm process and
  the server are SIGKILLed, and the append-only file is cut back to its length of one second
  earlier (what ``appendfsync everysec`` may leave after a power loss: a prefix of the write
  stream). The restarted farm resumes from that earlier moment: the bots' states, the
  commands stream, the gateway's order records and the durable paper exchange roll back
  *together* (one server), so nothing is lost or doubled that any survivor still remembers.

After each: no client order id placed twice, no fill lost, every ledger equal to the exchange's
records to the last unit, reconciliation halted no bot. docs/store.md ("What a crash can
lose") has the analysis, including a live exchange (which keeps the orders Redis forgot:
reconciliation by client order id finds them).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from omegafarm.core.errors import OmegaError
from omegafarm.store import RedisClient, RedisSettings
from omegafarm.store import keys as _names
from tests.faults._farm_procs import (
    TTL_S,
    at_least,
    audit,
    filled_orders,
    kill9,
    saved_exchange,
    spawn,
    stop_all_and_settle,
    terminate,
    true,
    write_config,
)
from tests.integration._farm import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("farm")]  # one farm at a time
N_BOTS = 6
IDS = [f"b{i:02d}" for i in range(N_BOTS)]
PROBE = "probe:acknowledged"  # a counter the test increments without pause


@dataclass
class Probe:
    """Appends 0, 1, 2, ... to a stream as fast as the server answers, and keeps every number
    the server acknowledged."""

    redis: RedisClient
    acknowledged: list[int] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        n = 0
        while not self._stop.is_set():
            try:
                await self.redis.stream_add(PROBE, n)
            except OmegaError:  # the server is down: the next number, later
                await asyncio.sleep(0.01)  # wait-ok: the retry interval of the probe writer
            else:
                self.acknowledged.append(n)
            n += 1

    async def lost(self) -> int:
        """Acknowledged numbers the server no longer has."""
        present = {int(m.data) for m in await self.redis.stream_range(PROBE)}
        return len(set(self.acknowledged) - present)


def _embedded_client(data_dir: Path, farm: str) -> RedisClient:
    """A client adopting the embedded server ``omega up`` runs in ``data_dir``."""
    settings = RedisSettings(data_dir=data_dir, farm=farm, reconnect_max_backoff_s=0.2,
                             socket_timeout_s=2, connect_timeout_s=1)  # fmt: skip
    return RedisClient(settings, metrics_registry=CollectorRegistry())


def _server_pid(data_dir: Path) -> int:
    return int((data_dir / "valkey.pid").read_text().strip())


async def _orders(redis: RedisClient) -> int:
    if not await redis.exists(_names.PAPER_STATE):
        return 0
    return len(await (await saved_exchange(redis)).fetch_orders())


async def test_kill_9_of_the_embedded_valkey_loses_no_acknowledged_write_and_no_order(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "redis"
    config = write_config(tmp_path, f"embedded:{data_dir}", "lsw", N_BOTS)
    log = tmp_path / "farm.log"
    up = spawn(config, log, "up")
    procs = [up]
    redis = None
    try:
        await asyncio.to_thread(_wait_file, data_dir / "valkey.pid", 60)
        redis = _embedded_client(data_dir, "lsw")
        await redis.initialize()  # adopts omega up's server
        procs.append(spawn(config, log, "worker", "--lease-ttl", str(TTL_S)))
        await wait_for(lambda: at_least(redis, 6), 120, "6 filled orders")
        probe = Probe(redis)
        probing = asyncio.create_task(probe.run())
        await wait_for(lambda: true(len(probe.acknowledged) > 100), 10, "the probe writing")
        orders_before = await _orders(redis)
        pid = _server_pid(data_dir)
        os.kill(pid, signal.SIGKILL)  # kill -9 of valkey-server while orders flow
        acked_at_kill = len(probe.acknowledged)

        async def restarted() -> bool:  # omega up's supervisor starts it on the same files
            return data_dir.joinpath("valkey.pid").exists() and _server_pid(data_dir) != pid

        await wait_for(restarted, 30, "the embedded server restarted by omega up")
        await wait_for(lambda: true(len(probe.acknowledged) > acked_at_kill + 100), 30,
                       "the probe writing to the restarted server")  # fmt: skip
        probe._stop.set()
        await probing
        lost_writes = await probe.lost()
        assert await _orders(redis) >= orders_before  # no order the exchange knew is gone
        filled = await filled_orders(redis)
        await wait_for(lambda: at_least(redis, filled + 6), 60,
                       "6 more filled orders: trading again")  # fmt: skip
        print(json.dumps({"fault": "valkey kill -9", "acknowledged_writes_lost": lost_writes,
                          "acknowledged_writes": len(probe.acknowledged),
                          "orders_before": orders_before}))  # fmt: skip
        assert lost_writes == 0
        await stop_all_and_settle(redis, IDS)
        report = await audit(redis, IDS)  # the farm idle (bots stopped, no open order)
        assert report["orders"] > 0, log.read_text()[-3000:]
    finally:
        for proc in reversed(procs):
            terminate(proc)
        if redis is not None:
            await redis.shutdown()


def _wait_file(path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {path}")
        time.sleep(0.05)  # wait-ok: the poll interval of a condition check with a deadline


@dataclass
class AofSizes:
    """The append-only file's length every 20 ms: (monotonic time, file name, size)."""

    folder: Path
    samples: list[tuple[float, str, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def incr_file(self) -> str:
        manifest = (self.folder / "appendonly.aof.manifest").read_text()
        lines = [ln.split() for ln in manifest.splitlines() if ln.endswith("type i")]
        return lines[-1][1]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                name = self.incr_file()
                size = (self.folder / name).stat().st_size
            except (OSError, IndexError):
                pass
            else:
                self.samples.append((time.monotonic(), name, size))
            self._stop.wait(0.02)

    def start(self) -> AofSizes:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def cut_back(self, seconds: float, crashed_at: float) -> tuple[int, int]:
        """Cut the file back to its length ``seconds`` before ``crashed_at``; (bytes cut,
        length kept)."""
        name = self.incr_file()
        earlier = [s for s in self.samples if s[0] <= crashed_at - seconds and s[1] == name]
        assert earlier, "no sample of the append-only file a second before the crash"
        keep = earlier[-1][2]
        path = self.folder / name
        size = path.stat().st_size
        with path.open("r+b") as fh:
            fh.truncate(keep)
        return size - keep, keep


async def test_a_crash_losing_the_last_second_of_writes_loses_no_order(tmp_path: Path) -> None:
    data_dir = tmp_path / "redis"
    config = write_config(tmp_path, f"embedded:{data_dir}", "lsw", N_BOTS)
    log = tmp_path / "farm.log"
    procs = [spawn(config, log, "up")]
    redis = None
    try:
        await asyncio.to_thread(_wait_file, data_dir / "valkey.pid", 60)
        redis = _embedded_client(data_dir, "lsw")
        await redis.initialize()
        procs.append(spawn(config, log, "worker", "--lease-ttl", str(TTL_S)))
        await wait_for(lambda: at_least(redis, 6), 120, "6 filled orders")
        aof = AofSizes(data_dir / "appendonlydir").start()
        await wait_for(lambda: true(len(aof.samples) > 60), 10, "a second of file sizes")
        orders_before_crash = await _orders(redis)
        await redis.shutdown()  # our client goes first: the crash takes the whole machine
        redis = None
        pid = _server_pid(data_dir)
        os.kill(pid, signal.SIGSTOP)  # frozen: not one more write, no graceful shutdown
        crashed_at = time.monotonic()
        aof.stop()
        for proc in reversed(procs):
            kill9(proc)
        os.kill(pid, signal.SIGKILL)
        await asyncio.to_thread(_wait_gone, pid, 10)
        cut_bytes, kept = aof.cut_back(1.0, crashed_at)  # the power loss: the last second

        # what the lost second held: read the data dir alone first (our client starts the
        # embedded server on it), then the farm starts again on it
        redis = _embedded_client(data_dir, "lsw")
        await redis.initialize()
        orders_after_restart = await _orders(redis)
        ours = _server_pid(data_dir)
        await redis.shutdown()
        procs = [spawn(config, log, "up")]
        await asyncio.to_thread(_wait_pid_changed, data_dir, {pid, ours}, 60)
        redis = _embedded_client(data_dir, "lsw")
        await redis.initialize()
        procs.append(spawn(config, log, "worker", "--lease-ttl", str(TTL_S)))
        filled_restart = await filled_orders(redis)
        await wait_for(lambda: at_least(redis, filled_restart + 6), 120,
                       "6 more filled orders: trading again")  # fmt: skip
        print(json.dumps({"fault": "crash, last second of the AOF lost", "aof_bytes_lost": cut_bytes,
                          "aof_bytes_kept": kept, "orders_before_crash": orders_before_crash,
                          "orders_after_restart": orders_after_restart}))  # fmt: skip
        await stop_all_and_settle(redis, IDS)
        report = await audit(redis, IDS)  # the farm idle (bots stopped, no open order)
        assert report["orders"] > 0, log.read_text()[-3000:]
    finally:
        for proc in reversed(procs):
            terminate(proc)
        if redis is not None:
            await redis.shutdown()


def _wait_gone(pid: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"valkey-server {pid} still alive after {timeout_s}s")
        time.sleep(0.02)  # wait-ok: the poll interval of a condition check with a deadline


def _wait_pid_changed(data_dir: Path, old: set[int], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if _server_pid(data_dir) not in old:
                return
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"no new embedded server after {timeout_s}s")
        time.sleep(0.05)  # wait-ok: the poll interval of a condition check with a deadline

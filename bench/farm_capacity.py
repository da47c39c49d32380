"""Farm capacity: how many bots a farm keeps up with, and what each costs in Redis and CPU.

For each size (``--sizes``, default 100, 500, 1,000 bots) and worker count (``--workers``,
default 1 and 4) the bench starts a whole farm in real processes, exactly as a user would:
``omega up`` with ``OMEGA_BOTS__RUN_WORKER=false`` (gateway, paper exchange, farm service; no
API) and N ``omega worker`` processes, all on one Valkey server the bench starts (a unix
socket, ``appendfsync everysec``: like the embedded server). The bots (``sma_cross``, 500 to
5,000 USDT each, spread over the paper exchange's 11 synthetic USDT markets) trade 1m candles
at clock speed 6: one candle per bot every 10 s. Two farms per configuration:

* **active** (1m bots): a window of ``--duration`` seconds rounded to whole bars (K), opened
  in the middle of a bar. The bench logs every candle the gateway sends (a subscriber on the
  candle channels). Per worker, the bots handled the difference of its running count
  (``latency.handled``) between its first heartbeats at or after the window's edges, and
  should have handled the candles sent to its bots between those same two heartbeats (one in
  flight at one edge is balanced by one at the other); times the gateway's share (distinct
  candles sent per symbol / K bars of the market's clock) that is the share processed.
  Latency: ``p50_ms``/``p99_ms`` per heartbeat period, from the gateway's send stamp
  ``sent_ms`` to the end of the bot's decision (p99 shown is the largest period p99, an upper
  bound of the window's), and the gateway's lag from a candle's close to its send (against
  the promptest send seen: the market's clock anchor is not readable from outside).
  Redis ops = delta of ``total_commands_processed`` over the window minus the bench's own
  commands (INFO, heartbeat GETs); Valkey counts every command a Lua script runs as well as
  the EVALSHA itself (checked: one EVAL running 10 SETs adds 11), so these are commands
  executed, not round trips. ``ops/bot-candle`` = ops / (K x bots), everything the farm did in
  the window included (its idle work too: an upper bound of a candle's own cost). ``candle_ops_est`` in the JSON subtracts the idle farm's rate; it
  is rough where idle work is CPU-bound (a polling loop slows down when candles load the CPU,
  so it can even come out negative).
  Worker CPU = /proc utime+stime of the worker processes over the window / candles handled.
* **idle** (the same bots on 4h candles: none closes during the ``--idle-duration`` window;
  the bench checks ``handled`` did not move): Redis ops per bot per second.

Baseline, in the same run: the design before issue 11's work, commit ``--baseline-commit``
(76c7d1b: it already has the latency heartbeat), exported with ``git archive`` and run with
``PYTHONPATH`` on it, at ``--baseline-sizes`` (default 100 and 500: the old design polls every
bot ~20 times a second and falls over well before 1,000). The last line compares Redis ops per
bot per candle at the largest configuration both designs ran (lower is better).

Usage: ``python bench/farm_capacity.py [--sizes 100,500,1000] [--workers 1,4] [--duration 120]
[--no-baseline] [--quick]`` (``--quick``: 8 bots, 1 worker, a 10 s window, no baseline: one to
two minutes, most of it two farms starting).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from _capacity import (
    SYMBOLS,
    Beat,
    Info,
    Publishes,
    bots_running,
    config_text,
    farm_file_text,
    fmt,
    percentile,
    process_cpu_s,
    script_calls,
    symbol_of,
    top_commands,
    window,
)
from omegafarm.store.testing import ValkeyServers, free_ports

ROOT = Path(__file__).resolve().parents[1]
BAR_S = 10.0  # wall seconds per candle: 1m bars at speed 6
SPEED = 6.0
IDLE_TIMEFRAME = "4h"  # at speed 6 one closes every 40 min of wall time: none in the window
EDGE_TIMEOUT_S = 180.0  # the longest wait for a worker's first heartbeat after the window
HEARTBEAT_POLL_S = 1.0  # workers beat every lease TTL / 3 (3.3 s by default): none is missed


@dataclass
class Measure:
    """One farm's window: what the bench read at its edges."""

    bots: int
    running: int = 0  # bots in the workers' heartbeats when the window opened
    startup_s: float = math.nan
    seconds: float = 0.0
    expected: int = 0  # candles the market closed for the bots during the window
    handled: int = 0
    published: int | None = None  # candles sent to the workers' bots between their edge beats
    gw_bars: int = 0  # distinct candles the gateway sent in the window, all symbols
    gw_expected: int = 0  # bars the market closed in the window, all symbols with bots
    lag_p50_ms: float | None = None  # candle close -> gateway's send
    lag_p99_ms: float | None = None
    edge_workers: int = 0  # workers with a heartbeat at both edges of the window
    ops: int = 0  # Redis commands executed, the bench's own removed
    scripts: int = 0
    redis_cpu_s: float = 0.0
    worker_cpu_s: float = 0.0
    gateway_cpu_s: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    load: float = 0.0
    top: str = ""
    note: str = ""

    def share(self) -> float | None:
        """Candles handled / candles the market closed for the bots: the workers' share of what
        the gateway sent them, times the gateway's share of the bars the market closed (or,
        without a publish log, handled / bars x bots). None: no worker beat at both edges."""
        if not self.edge_workers:
            return None
        if self.published is None or not self.gw_expected:
            return self.handled / self.expected if self.expected else None
        if not self.published:
            return None
        return min(1.0, self.handled / self.published) * self.gw_bars / self.gw_expected


@dataclass
class Row:
    impl: str
    bots: int
    workers: int
    active: Measure | None = None
    idle: Measure | None = None
    error: str = ""

    def idle_rate(self) -> float | None:
        """Redis ops per bot per second with no candle."""
        i = self.idle
        return i.ops / (i.bots * i.seconds) if i and i.seconds else None

    def summary(self) -> dict[str, Any]:
        a, idle = self.active, self.idle_rate()
        out: dict[str, Any] = {"impl": self.impl, "bots": self.bots, "workers": self.workers}
        if self.error:
            out["error"] = self.error
        if idle is not None and self.idle:
            out["idle_ops_per_bot_s"] = round(idle, 4)
            out["idle_worker_cpu_pct"] = round(100 * self.idle.worker_cpu_s / self.idle.seconds, 1)
            out["idle_gateway_cpu_pct"] = round(
                100 * self.idle.gateway_cpu_s / self.idle.seconds, 1
            )
        if a is None or not a.expected:
            return out
        per_candle = a.ops / a.expected
        out.update(
            running=a.running, startup_s=round(a.startup_s, 1), share=None if a.share() is None else round(a.share() or 0.0, 4),
            share_by_count=round(a.handled / a.expected, 4), handled=a.handled,
            expected=a.expected, published=a.published,
            gateway_share=round(a.gw_bars / a.gw_expected, 4) if a.gw_expected else None,
            gateway_lag_p50_ms=a.lag_p50_ms, gateway_lag_p99_ms=a.lag_p99_ms,
            p50_ms=a.p50_ms, p99_ms=a.p99_ms,
            max_ms=a.max_ms, ops_per_bot_candle=round(per_candle, 3),
            candle_ops_est=None if idle is None
            else round(per_candle - idle * a.seconds * a.bots / a.expected, 3),
            scripts_per_bot_candle=round(a.scripts / a.expected, 3),
            worker_cpu_ms_per_bot_candle=round(1000 * a.worker_cpu_s / a.handled, 3)
            if a.handled else None,
            worker_cpu_pct=round(100 * a.worker_cpu_s / a.seconds, 1),
            gateway_cpu_pct=round(100 * a.gateway_cpu_s / a.seconds, 1),
            redis_cpu_pct=round(100 * a.redis_cpu_s / a.seconds, 1), load=round(a.load, 1),
            top_commands=a.top, note=a.note,
        )  # fmt: skip
        return out


# ----------------------------------------------------------------------------- Redis side
class Probe:
    """The bench's own Redis client: counts every command it sends, so they can be taken off
    the server's counters."""

    def __init__(self, socket_path: str) -> None:
        self.r = aioredis.Redis(unix_socket_path=socket_path, decode_responses=False)
        self.sent = 0

    async def info(self) -> Info:
        self.sent += 1
        return Info.parse(await self.r.info("all"))

    async def flushall(self) -> None:
        self.sent += 1
        await self.r.flushall()

    async def scan(self, match: str) -> list[str]:
        keys, cursor = [], 0
        while True:
            self.sent += 1
            cursor, found = await self.r.scan(cursor, match=match, count=1000)
            keys += [k.decode() for k in found]
            if cursor == 0:
                return keys

    async def get_json(self, key: str) -> Any:
        self.sent += 1
        raw = await self.r.get(key)
        return None if raw is None else json.loads(raw)


class Heartbeats:
    """Reads every worker's heartbeat once a second and keeps each new one."""

    def __init__(self, probe: Probe, farm: str, workers: list[str], records: Path | None) -> None:
        self.probe, self.farm, self.workers = probe, farm, workers
        self.keys: dict[str, str] = {}  # worker id -> its heartbeat key
        self.beats: list[Beat] = []
        self.latest: dict[str, Beat] = {}
        self.records = records
        self.beat = asyncio.Event()  # set at every new heartbeat
        self.error = ""  # why heartbeats cannot be read (the bench stops on it)

    async def wait_all_after(self, at_ms: float, workers: int, timeout_s: float) -> None:
        """Until every worker beat at or after ``at_ms`` (or ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while len(self.latest) < workers or any(b.at_ms < at_ms for b in self.latest.values()):
            self.beat.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.beat.wait(), max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                return

    async def poll(self) -> None:
        if len(self.keys) < len(self.workers):  # discover the keys (SCAN: never in a window)
            # the heartbeats only (a worker's session key lock:lease:worker:...:<id> too ends
            # with its id)
            for key in await self.probe.scan(f"omega:{self.farm}:*health:worker*"):
                for wid in self.workers:
                    if key.endswith(f":{wid}"):
                        self.keys[wid] = key
        for wid, key in self.keys.items():
            record = await self.probe.get_json(key)
            if record is None:
                continue
            try:
                beat = Beat.parse(wid, record)
            except (KeyError, ValueError, TypeError) as exc:  # a design without the summary
                self.error = f"unreadable heartbeat: {exc}"
                return
            if wid in self.latest and self.latest[wid].at_ms == beat.at_ms:
                continue
            self.latest[wid] = beat
            self.beats.append(beat)
            self.beat.set()
            if self.records is not None:
                with self.records.open("a", encoding="utf-8") as out:
                    out.write(
                        json.dumps({"farm": self.farm, "worker": wid, "record": record}) + "\n"
                    )

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(RedisError, OSError):  # Redis busy: the next second
                await self.poll()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), HEARTBEAT_POLL_S)


# ----------------------------------------------------------------------------- processes
@dataclass
class Farm:
    """``omega up`` (gateway) and ``omega worker`` processes of one farm."""

    src: Path
    config: Path
    logs: Path
    workers: int
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(self.src), "OMEGA_BOTS__RUN_WORKER": "false"}
        self._spawn("gateway", env, "up")
        env.pop("OMEGA_BOTS__RUN_WORKER")
        for i in range(self.workers):
            self._spawn(f"capw{i}", env, "worker", "--worker-id", f"capw{i}")

    def _spawn(self, name: str, env: dict[str, str], *args: str) -> None:
        with (self.logs / f"{name}.log").open("ab") as out:
            self.procs[name] = subprocess.Popen(  # our CLI, our arguments
                [sys.executable, "-m", "omegafarm", "--log-level", "warning",
                 "-c", str(self.config), *args],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.logs,
            )  # fmt: skip

    def cpu_s(self) -> tuple[float, float]:
        """(workers, gateway) CPU seconds so far."""
        workers = sum(process_cpu_s(p.pid) for n, p in self.procs.items() if n != "gateway")
        return workers, process_cpu_s(self.procs["gateway"].pid)

    def dead(self) -> list[str]:
        return [n for n, p in self.procs.items() if p.poll() is not None]

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def tail(self, name: str, lines: int = 5) -> str:
        text = (self.logs / f"{name}.log").read_text(encoding="utf-8", errors="replace")
        return " | ".join(text.strip().splitlines()[-lines:])


# ----------------------------------------------------------------------------- one farm
@dataclass
class Plan:
    duration_s: float
    idle_s: float
    startup_timeout_s: float
    records: Path | None


async def _wait_steady(hb: Heartbeats, farm: Farm, n_bots: int, timeout_s: float) -> float:
    """Seconds until every bot runs (and each worker beat once more after, so all are
    subscribed); the timeout when not (the window then opens anyway: the missing bots lose
    their candles)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if farm.dead():
            raise RuntimeError(f"{farm.dead()[0]} exited: {farm.tail(farm.dead()[0])}")
        if hb.error:
            raise RuntimeError(hb.error)
        if len(hb.latest) == farm.workers and bots_running(hb.latest) >= n_bots:
            seen = {w: b.at_ms for w, b in hb.latest.items()}
            steady = time.monotonic() - t0
            while any(hb.latest[w].at_ms == at for w, at in seen.items()):
                if time.monotonic() - t0 > timeout_s:
                    break
                await asyncio.sleep(0.2)
            return steady
        await asyncio.sleep(0.5)
    return math.inf


async def _listen(probe: Probe, farm_name: str, log: Publishes, first: asyncio.Event,
                  stop: asyncio.Event) -> None:  # fmt: skip
    """Log every candle message on the farm's candle channels (``first``: one arrived)."""
    pubsub = probe.r.pubsub()
    probe.sent += 1  # PSUBSCRIBE; messages a subscriber receives are no commands
    await pubsub.psubscribe(f"omega:{farm_name}:*md:*")
    try:
        while not stop.is_set():
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            if msg is None:
                continue
            with contextlib.suppress(ValueError):
                data = json.loads(msg["data"])
                if isinstance(data, dict) and log.add(data):
                    first.set()
    finally:
        await pubsub.aclose()


async def measure_farm(
    probe: Probe, farm: Farm, farm_name: str, n_bots: int, plan: Plan, *, idle: bool
) -> Measure:
    m = Measure(bots=n_bots)
    hb = Heartbeats(probe, farm_name, [f"capw{i}" for i in range(farm.workers)], plan.records)
    stop, first, log = asyncio.Event(), asyncio.Event(), Publishes(60_000, SPEED)
    poller = asyncio.create_task(hb.run(stop))
    listener: asyncio.Task[None] | None = None
    try:
        m.startup_s = await _wait_steady(hb, farm, n_bots, plan.startup_timeout_s)
        m.running = bots_running(hb.latest)
        if not math.isfinite(m.startup_s):
            m.note = (
                f"only {m.running} of {n_bots} bots running after {plan.startup_timeout_s:.0f} s"
            )
        if idle:
            length_s = plan.idle_s
        else:  # open in the middle of a bar, when most edge heartbeats fall between candles
            listener = asyncio.create_task(_listen(probe, farm_name, log, first, stop))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(first.wait(), 3 * BAR_S)
            if first.is_set():
                await asyncio.sleep(BAR_S / 2)
            else:
                m.note += " no candle seen on the candle channels: window not aligned"
            length_s = BAR_S * max(1, round(plan.duration_s / BAR_S))
        t_start, (w0, g0) = time.time(), farm.cpu_s()
        sent0, info0 = probe.sent + 1, await probe.info()
        load0 = os.getloadavg()[0]
        await asyncio.sleep(max(0.0, t_start + length_s - time.time()))
        t_end, (w1, g1) = time.time(), farm.cpu_s()
        sent1, info1 = probe.sent, await probe.info()
        m.load = (load0 + os.getloadavg()[0]) / 2
        delta = info1.minus(info0)
        m.seconds = t_end - t_start
        m.ops = delta.commands - (sent1 - sent0 + 1)
        m.scripts, m.redis_cpu_s, m.top = script_calls(delta), delta.cpu_s, top_commands(delta)
        m.worker_cpu_s, m.gateway_cpu_s = w1 - w0, g1 - g0
        # the closing beats: a worker busy with many bots beats late (its heartbeat is written at
        # the start of each lease round), and its expected candles run to its own closing beat
        await hb.wait_all_after(t_end * 1000, farm.workers, EDGE_TIMEOUT_S)
        start_ms, end_ms = int(t_start * 1000), int(t_end * 1000)
        logged = first.is_set()
        win = window(hb.beats, start_ms, end_ms, log if logged else None, symbol_of)
        m.handled, m.p50_ms, m.p99_ms, m.max_ms = win.handled, win.p50_ms, win.p99_ms, win.max_ms
        if logged and not idle:
            m.published = win.published
            bars = round(length_s / BAR_S)
            symbols = SYMBOLS[: min(n_bots, len(SYMBOLS))]
            m.gw_bars = sum(min(bars, log.bars(sym, start_ms, end_ms)) for sym in symbols)
            m.gw_expected = bars * len(symbols)
            lags = log.lags_ms(start_ms, end_ms)
            m.lag_p50_ms, m.lag_p99_ms = percentile(lags, 50), percentile(lags, 99)
        m.edge_workers = win.workers
        if win.workers < farm.workers:
            m.note += f" {farm.workers - win.workers} workers missed a window edge"
        m.expected = 0 if idle else n_bots * round(length_s / BAR_S)
        if idle and m.handled:
            m.note += f" {m.handled} candles arrived during the idle window"
        return m
    finally:
        stop.set()
        await poller
        if listener is not None:
            await listener


async def run_row(row: Row, src: Path, probe: Probe, url: str, tmp: Path, plan: Plan) -> None:
    for idle in (True, False):
        phase = "idle" if idle else "active"
        farm_name = f"cap-{row.impl}-{row.bots}-{row.workers}-{phase}"
        folder = tmp / farm_name
        folder.mkdir(parents=True)
        farm_file = folder / "farm.toml"
        farm_file.write_text(farm_file_text(row.bots, IDLE_TIMEFRAME if idle else "1m"))
        config = folder / "omega.toml"
        config.write_text(config_text(folder, url, farm_name, farm_file, SPEED))
        await probe.flushall()
        farm = Farm(src, config, folder, row.workers)
        print(f"  {row.impl} {row.bots} bots x {row.workers} workers: {phase} farm", flush=True)
        farm.start()
        try:
            m = await measure_farm(probe, farm, farm_name, row.bots, plan, idle=idle)
        except RuntimeError as exc:
            row.error = f"{phase}: {exc}"
            return
        finally:
            await asyncio.to_thread(farm.stop)
        if idle:
            row.idle = m
        else:
            row.active = m


# ----------------------------------------------------------------------------- report
COLUMNS = ("design", "bots", "wk", "running", "start s", "share %", "gw lag p99", "p50 ms", "p99 ms",
           "ops/bot-candle", "idle ops/bot/s", "wk CPU ms/bot-candle",
           "wk CPU %", "idle wk CPU %", "gw CPU %", "redis CPU %", "load")  # fmt: skip


def table(rows: list[Row]) -> str:
    lines = [COLUMNS]
    for row in rows:
        s = row.summary()
        if "handled" not in s:
            lines.append((row.impl, str(row.bots), str(row.workers), "-", "-", "-", "-", "-", "-",
                          "-", fmt(s.get("idle_ops_per_bot_s"), 2), "-", "-",
                          fmt(s.get("idle_worker_cpu_pct"), 0), "-", "-", "-"))  # fmt: skip
            continue
        lines.append((
            row.impl, str(row.bots), str(row.workers), f"{s['running']}/{row.bots}",
            fmt(s["startup_s"], 0), fmt(None if s["share"] is None else 100 * s["share"], 1), fmt(s["gateway_lag_p99_ms"], 0),
            fmt(s["p50_ms"], 0),
            fmt(s["p99_ms"], 0), fmt(s["ops_per_bot_candle"], 1), fmt(s.get("idle_ops_per_bot_s"), 2),
            fmt(s["worker_cpu_ms_per_bot_candle"], 2), fmt(s["worker_cpu_pct"], 0),
            fmt(s.get("idle_worker_cpu_pct"), 0), fmt(s["gateway_cpu_pct"], 0), fmt(s["redis_cpu_pct"], 0), fmt(s["load"], 1),
        ))  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    out = ["  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    for row in rows:
        s = row.summary()
        extra = " ".join(x for x in (row.error, s.get("note", "")) if x).strip()
        if s.get("top_commands"):
            out.append(f"{row.impl} {row.bots}x{row.workers}: commands {s['top_commands']}")
        if extra:
            out.append(f"{row.impl} {row.bots}x{row.workers}: {extra}")
    return "\n".join(out)


def verdict(rows: list[Row], baseline_name: str) -> dict[str, Any]:
    """Ops per bot per candle at the largest configuration both designs measured."""
    ok = {(r.impl, r.bots, r.workers): r.summary() for r in rows if r.active and r.active.expected}
    both = sorted(((b, w) for i, b, w in ok if i == "ours" and ("baseline", b, w) in ok),
                  key=lambda bw: (bw[0], bw[1]))  # fmt: skip
    ours_keys = sorted(((b, w) for i, b, w in ok if i == "ours"), key=lambda bw: (bw[0], bw[1]))
    at = both[-1] if both else (ours_keys[-1] if ours_keys else None)
    ours = ok.get(("ours", *at)) if at else None
    base = ok.get(("baseline", *at)) if at else None
    ratio = None
    if ours and base and ours["ops_per_bot_candle"]:
        ratio = round(base["ops_per_bot_candle"] / ours["ops_per_bot_candle"], 3)
    top = ok.get(("ours", *ours_keys[-1])) if ours_keys else None
    return {
        "bench": "farm_capacity",
        "ours": ours["ops_per_bot_candle"] if ours else None,
        "baseline": base["ops_per_bot_candle"] if base else None,
        "baseline_name": baseline_name,
        "unit": f"Redis commands (Lua's inner ones counted) per bot per candle, "
        f"{at[0] if at else '-'} bots on {at[1] if at else '-'} workers, 1 candle/bot/10 s",
        "ratio": ratio,
        "better": "lower",
        "share_ours": ours["share"] if ours else None,
        "share_baseline": base["share"] if base else None,
        "largest_ours": {k: top[k] for k in ("bots", "workers", "share", "p50_ms", "p99_ms",
                         "ops_per_bot_candle", "idle_ops_per_bot_s") if k in top}
        if top else None,
        "rows": [r.summary() for r in rows],
    }  # fmt: skip


# ----------------------------------------------------------------------------- main
def export_baseline(commit: str, tmp: Path) -> Path:
    """``git archive COMMIT src`` into ``tmp/baseline``: the old design's package."""
    dest = tmp / "baseline"
    dest.mkdir()
    archive = subprocess.run(  # git with fixed arguments and the user's commit
        ["git", "-C", str(ROOT), "archive", commit, "src"],  # git on PATH
        capture_output=True, check=False,
    )  # fmt: skip
    if archive.returncode != 0:
        raise SystemExit(f"git archive {commit}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest / "src"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ints = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731  # a tiny parser
    p.add_argument("--sizes", type=ints, default=[100, 500, 1000], help="bots, comma-separated")
    p.add_argument("--workers", type=ints, default=[1, 4], help="workers, comma-separated")
    p.add_argument("--duration", type=float, default=120.0, help="active window, s")
    p.add_argument("--idle-duration", type=float, default=30.0, help="idle window, s")
    p.add_argument("--startup-timeout", type=float, default=240.0, help="s for all bots to run")
    p.add_argument("--baseline-commit", default="76c7d1b")
    p.add_argument("--baseline-sizes", type=ints, default=[100, 500])
    p.add_argument("--no-baseline", action="store_true", help="measure our design only")
    p.add_argument("--records", type=Path, help="append every heartbeat read (JSON lines)")
    p.add_argument("--quick", action="store_true", help="8 bots, 1 worker, 10 s, no baseline")
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.workers, args.duration, args.idle_duration = [8], [1], 10.0, 5.0
        args.no_baseline, args.startup_timeout = True, 60.0
    if not args.sizes or not args.workers or min(args.sizes + args.workers) < 1:
        p.error("--sizes and --workers need positive integers")
    return args


async def run(args: argparse.Namespace) -> list[Row]:
    tmp = Path(tempfile.mkdtemp(prefix="cap"))
    designs = [("ours", ROOT / "src")]
    if not args.no_baseline:
        designs.append(("baseline", export_baseline(args.baseline_commit, tmp)))
    server = ValkeyServers(tmp / "valkey")
    (port,) = free_ports(1)
    sock = tmp / "valkey.sock"
    server.spawn(port, [f"unixsocket {sock}", "unixsocketperm 700", "appendonly yes",
                        "appendfsync everysec", "maxclients 10000"])  # fmt: skip
    probe = Probe(str(sock))
    plan = Plan(args.duration, args.idle_duration, args.startup_timeout, args.records)
    rows = []
    try:
        for bots in args.sizes:
            for workers in args.workers:
                for impl, src in designs:
                    if impl == "baseline" and bots not in args.baseline_sizes:
                        continue
                    row = Row(impl, bots, workers)
                    await run_row(row, src, probe, f"unix://{sock}", tmp, plan)
                    rows.append(row)
                    print(json.dumps(row.summary()), flush=True)
    finally:
        await probe.r.aclose()
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(f"machine load before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"({os.cpu_count()} cores)", flush=True)  # fmt: skip
    rows = asyncio.run(run(args))
    print(table(rows))
    if args.no_baseline:
        print("baseline skipped (--no-baseline or --quick)")
    else:
        skipped = [s for s in args.sizes if s not in args.baseline_sizes]
        if skipped:
            print(f"baseline not run at {skipped} bots (--baseline-sizes {args.baseline_sizes})")
    print(f"machine load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    name = "none" if args.no_baseline else f"design before issue 11 (commit {args.baseline_commit})"
    print(json.dumps(verdict(rows, name)))


if __name__ == "__main__":
    main()

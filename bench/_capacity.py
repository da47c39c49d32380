"""Pieces of ``bench/farm_capacity.py`` that need no farm: the farm and config files it writes,
the reading of worker heartbeats and of Redis ``INFO``, and process CPU from ``/proc``.

Kept apart so ``tests/bots/test_farm_capacity_bench.py`` checks them on real records (a bench
runs as ``python bench/NAME.py``, so this module is importable as ``_capacity``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

# Every base the paper exchange's synthetic market has a profile for (exchange/paper/
# _synthetic.py PROFILES: Binance-like prices, ticks and volumes), against USDT.
SYMBOLS = tuple(
    f"{base}/USDT"
    for base in ("BTC", "ETH", "SOL", "BNB", "XRP", "ADA", "DOGE", "LINK", "AVAX", "DOT", "LTC")
)
CAPITALS = (Decimal(500), Decimal(1000), Decimal(2500), Decimal(5000))  # USDT per bot
SMA_PARAMS = ((5, 20), (10, 30), (8, 21), (12, 40), (6, 25))  # (fast, slow)


def symbol_of(bot_id: str) -> str:
    """The symbol of a bot of :func:`farm_file_text` (``cap0012`` -> the 13th symbol)."""
    return SYMBOLS[int(bot_id.removeprefix("cap")) % len(SYMBOLS)]


def farm_file_text(n_bots: int, timeframe: str) -> str:
    """``n_bots`` sma_cross bots spread round-robin over :data:`SYMBOLS`, with realistic
    capital (500-5,000 USDT) and a few parameter sets, all on one account."""
    out = []
    for i in range(n_bots):
        fast, slow = SMA_PARAMS[i % len(SMA_PARAMS)]
        out.append(
            f'[[bots]]\nid = "cap{i:04d}"\nstrategy = "sma_cross"\n'
            f'symbol = "{SYMBOLS[i % len(SYMBOLS)]}"\ntimeframe = "{timeframe}"\n'
            f'capital = "{CAPITALS[i % len(CAPITALS)]}"\n'
            f"params = {{ fast = {fast}, slow = {slow} }}\n"
        )
    return "\n".join(out)


def account_usdt(n_bots: int) -> Decimal:
    """The shared account's USDT: every bot's capital, and a fifth more."""
    total = sum((CAPITALS[i % len(CAPITALS)] for i in range(n_bots)), Decimal(0))
    return total * Decimal("1.2")


def config_text(tmp: Path, redis_url: str, farm: str, farm_file: Path, speed: float) -> str:
    """The config every process of one farm reads (``omega -c FILE up|worker``): the bench's
    Redis, no API, the paper exchange's synthetic market on 1m bars at ``speed``; lease TTL,
    polls and history stay at their defaults (the farm as shipped)."""
    symbols = ", ".join(f'"{s}"' for s in SYMBOLS)
    n_bots = farm_file.read_text(encoding="utf-8").count("[[bots]]")
    return f"""
[redis]
url = "{redis_url}"
farm = "{farm}"

[api]
enabled = false

[alerts]
enabled = false

[security]
data_dir = "{tmp / "security"}"

[education]
db_path = "{tmp / "education.sqlite3"}"

[exchange]
exchange_id = "paper"
ohlcv_cache_path = "{tmp / "ohlcv.sqlite3"}"

[exchange.paper]
symbols = [{symbols}]
timeframe = "1m"
speed = {speed}
perpetuals = false
initial_balances = {{ USDT = "{account_usdt(n_bots)}" }}

[bots]
farm_file = "{farm_file}"
"""


# ----------------------------------------------------------------------------- heartbeats
@dataclass(frozen=True)
class Beat:
    """One worker heartbeat, as the bench needs it."""

    worker: str
    at_ms: int
    handled: int  # candles handled by the worker's bots since it started (running count)
    n: int  # latency samples since the worker's previous heartbeat
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    bots: int  # bots the worker runs
    bot_ids: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, worker: str, record: dict[str, Any]) -> Beat:
        """A heartbeat record (``Worker.heartbeat()``, stored as JSON under the worker's key)."""
        latency = record.get("latency")
        if not isinstance(latency, dict) or "handled" not in latency:
            raise ValueError(f"heartbeat of worker {worker} has no 'latency' summary: {record!r}")
        candles = record.get("candles") or {}

        def ms(name: str) -> float | None:
            value = latency.get(name)
            return None if value is None else float(value)

        return cls(worker=worker, at_ms=int(record["at_ms"]), handled=int(latency["handled"]),
                   n=int(latency.get("n", 0)), p50_ms=ms("p50_ms"), p99_ms=ms("p99_ms"),
                   max_ms=ms("max_ms"), bots=len(candles),
                   bot_ids=frozenset(candles))  # fmt: skip


def beats_from_jsonl(path: Path) -> list[Beat]:
    """Heartbeats written by ``--records FILE`` (one ``{"worker", "record"}`` a line)."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out.append(Beat.parse(row["worker"], row["record"]))
    return out


@dataclass(frozen=True)
class Window:
    """What the workers' heartbeats say about one measurement window."""

    handled: int  # candles handled in the window, all workers
    n: int  # latency samples in the window
    p50_ms: float | None  # median of the periods' medians, weighted by their sample counts
    p99_ms: float | None  # the highest period p99: an upper bound of the window's p99
    max_ms: float | None
    workers: int  # workers with a heartbeat at both edges
    published: int | None = None  # candles the gateway sent to those workers' bots between
    # each worker's edge heartbeats (None: no publish log)


def window(
    beats: list[Beat],
    start_ms: int,
    end_ms: int,
    publishes: Publishes | None = None,
    symbol_of: Callable[[str], str] | None = None,
) -> Window:
    """Per worker: the first heartbeat at or after ``start_ms`` opens the window and the first
    at or after ``end_ms`` closes it; ``handled`` is the difference of their running counts,
    and the latency summaries of the heartbeats after the opening one, up to the closing one,
    cover exactly the candles handled in between (each summary is "since the previous
    heartbeat"). Percentiles of the whole window cannot be rebuilt from per-period summaries:
    p50 is the sample-weighted median of the period medians, p99 the largest period p99 (no
    more than 1 % of any period, hence of the window, lies above it).

    With the gateway's ``publishes`` and each bot's symbol, ``published`` counts, per worker,
    the candles sent to its bots between the same two heartbeats: the candles it should have
    handled there (one still in flight at the closing beat is missing from ``handled``, one in
    flight at the opening beat is in it: in a steady farm the two edges even out)."""
    by_worker: dict[str, list[Beat]] = {}
    for beat in sorted(beats, key=lambda b: b.at_ms):
        if not by_worker.get(beat.worker) or by_worker[beat.worker][-1].at_ms != beat.at_ms:
            by_worker.setdefault(beat.worker, []).append(beat)
    handled = workers = published = 0
    periods: list[Beat] = []
    for series in by_worker.values():
        first = next((b for b in series if b.at_ms >= start_ms), None)
        last = next((b for b in series if b.at_ms >= end_ms), None)
        if first is None or last is None or last is first:
            continue
        workers += 1
        handled += last.handled - first.handled
        periods += [b for b in series if first.at_ms < b.at_ms <= last.at_ms and b.n]
        if publishes is not None and symbol_of is not None:
            for bot_id in first.bot_ids | last.bot_ids:
                published += publishes.count(symbol_of(bot_id), first.at_ms, last.at_ms)
    sent = published if publishes is not None and symbol_of is not None else None
    if not periods:
        return Window(handled, 0, None, None, None, workers, sent)
    n = sum(b.n for b in periods)
    weighted = sorted((b.p50_ms or 0.0, b.n) for b in periods)
    half, seen, p50 = n / 2, 0, weighted[-1][0]
    for value, count in weighted:
        seen += count
        if seen >= half:
            p50 = value
            break
    p99 = max(b.p99_ms or 0.0 for b in periods)
    top = max(b.max_ms or 0.0 for b in periods)
    return Window(handled, n, p50, p99, top, workers, sent)


class Publishes:
    """The candle messages the gateway published (as a subscriber sees them): per symbol, the
    candle's open time and the gateway's ``sent_ms`` stamp."""

    def __init__(self, tf_ms: int, speed: float) -> None:
        self.tf_ms, self.speed = tf_ms, speed
        self.sent: dict[str, list[tuple[int, int]]] = {}  # symbol -> [(ts_ms, sent_ms)]

    def add(self, message: dict[str, Any]) -> bool:
        """Keep one candle message; False if it is not one (no symbol, candle or stamp)."""
        try:
            symbol, ts_ms, sent_ms = message["symbol"], message["candle"][0], message["sent_ms"]
        except (KeyError, IndexError, TypeError):
            return False
        self.sent.setdefault(str(symbol), []).append((int(ts_ms), int(sent_ms)))
        return True

    def count(self, symbol: str, after_ms: int, until_ms: int) -> int:
        """Candles of ``symbol`` sent in ``(after_ms, until_ms]``."""
        return sum(1 for _, sent in self.sent.get(symbol, []) if after_ms < sent <= until_ms)

    def bars(self, symbol: str, after_ms: int, until_ms: int) -> int:
        """Distinct candles of ``symbol`` sent in ``(after_ms, until_ms]``."""
        return len({ts for ts, sent in self.sent.get(symbol, []) if after_ms < sent <= until_ms})

    def lags_ms(self, after_ms: int, until_ms: int) -> list[float]:
        """How late each candle of the window was sent after its close, against the promptest
        send seen. The market's clock runs ``speed`` times the wall clock from an anchor the
        bench cannot read, so the close of candle ``ts`` is at wall ``(ts + tf) / speed + A``;
        A is taken as the smallest ``sent - (ts + tf) / speed`` of the whole log (the gateway
        polls every 0.25 s, so the promptest send is at most that after its close: lags are
        short by at most that much)."""
        every = [(ts, sent) for rows in self.sent.values() for ts, sent in rows]
        if not every:
            return []
        offset = [sent - (ts + self.tf_ms) / self.speed for ts, sent in every]
        anchor = min(offset)
        return [x - anchor for x, (_, sent) in zip(offset, every, strict=True)
                if after_ms < sent <= until_ms]  # fmt: skip


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` percentile (nearest rank) of ``values``; None when empty."""
    if not values:
        return None
    ranked = sorted(values)
    return ranked[min(len(ranked) - 1, max(0, math.ceil(q / 100 * len(ranked)) - 1))]


def bots_running(latest: dict[str, Beat]) -> int:
    """Distinct bots in the workers' latest heartbeats."""
    return len(frozenset().union(*(b.bot_ids for b in latest.values()))) if latest else 0


# ----------------------------------------------------------------------------- Redis INFO
@dataclass(frozen=True)
class Info:
    """The counters of one ``INFO`` answer the bench reads."""

    commands: int  # total_commands_processed (includes the commands run inside Lua scripts)
    calls: dict[str, int]  # per command (commandstats), inner script commands included
    cpu_s: float  # used_cpu_sys + used_cpu_user of the server

    @classmethod
    def parse(cls, info: dict[str, Any]) -> Info:
        """From redis-py's parsed ``INFO`` (sections stats, commandstats and cpu)."""
        calls = {
            name.removeprefix("cmdstat_"): int(stats["calls"])
            for name, stats in info.items()
            if name.startswith("cmdstat_") and isinstance(stats, dict)
        }
        return cls(int(info["total_commands_processed"]), calls,
                   float(info["used_cpu_sys"]) + float(info["used_cpu_user"]))  # fmt: skip

    def minus(self, earlier: Info) -> Info:
        calls = {k: v - earlier.calls.get(k, 0) for k, v in self.calls.items()}
        return Info(self.commands - earlier.commands, {k: v for k, v in calls.items() if v},
                    self.cpu_s - earlier.cpu_s)  # fmt: skip


SCRIPT_COMMANDS = ("eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro")


def script_calls(delta: Info) -> int:
    """Lua script invocations (each also counts the commands it runs in ``commands``)."""
    return sum(delta.calls.get(name, 0) for name in SCRIPT_COMMANDS)


def top_commands(delta: Info, count: int = 6) -> str:
    """``get 1,234 · evalsha 567 ...``: the commonest commands of a delta."""
    ranked = sorted(delta.calls.items(), key=lambda kv: -kv[1])[:count]
    return " · ".join(f"{name} {calls:,}" for name, calls in ranked)


# ----------------------------------------------------------------------------- CPU
_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process (``/proc/PID/stat``; 0.0 once it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return 0.0
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) ": state is field 3
    return (int(fields[11]) + int(fields[12])) * _TICK_S  # utime, stime (fields 14 and 15)


def fmt(value: float | None, digits: int = 1) -> str:
    """A number for the table ('-' when unknown)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"

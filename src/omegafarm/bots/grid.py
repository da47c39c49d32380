"""Parameter sweeps: every combination of a grid, backtested on all cores.

A grid spec is space-separated ``name=values`` where values are ``a..b`` (integers a to b
inclusive), ``a..b:step`` (integers or decimals) or a comma list ``5,10,20``::

    "fast=5..20 slow=20..60:5"

Each combination runs in a worker process (one per core); a combination the strategy rejects
(e.g. fast >= slow) is reported as skipped with the reason.

Why it finishes: the candle file is loaded and checked once, in the parent, before the workers
are forked, so every worker starts with it in memory; indicators over it are computed once per
process (``feed`` shares them between strategies with equal arguments). Results are cached on
disk by everything that decides them (file contents' identity, strategy source, parameters,
capital, fees, fill model, range, version), so a repeated point costs nothing.

Why it stops: workers ignore SIGINT (the parent owns Ctrl-C) and are told by the kernel to die
when the parent does (``PR_SET_PDEATHSIG``); on Ctrl-C or SIGTERM the parent terminates the
pool at once, so no worker outlives it.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import itertools
import json
import multiprocessing as mp
import os
import signal
import sqlite3
import sys
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from omegafarm import __version__
from omegafarm.bots.backtest import BacktestConfig, load_source, run_backtest
from omegafarm.bots.strategy import ParamValue
from omegafarm.core.errors import OmegaError, ValidationError

MAX_COMBINATIONS = 100_000
_PR_SET_PDEATHSIG = 1  # prctl option: signal this process when its parent dies


def _number(text: str, spec: str) -> ParamValue:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValidationError(f"grid {spec!r}: {text!r} is not a number") from None
    return int(value) if value == value.to_integral_value() and "." not in text else float(value)


def _values(name: str, text: str) -> list[ParamValue]:
    spec = f"{name}={text}"
    if ".." in text:
        span, _, step_text = text.partition(":")
        lo_text, _, hi_text = span.partition("..")
        lo, hi = _number(lo_text, spec), _number(hi_text, spec)
        step = _number(step_text, spec) if step_text else 1
        if step <= 0 or hi < lo:
            raise ValidationError(f"grid {spec!r}: need low <= high and a positive step")
        count = int((Decimal(str(hi)) - Decimal(str(lo))) / Decimal(str(step))) + 1
        out = [Decimal(str(lo)) + k * Decimal(str(step)) for k in range(count)]
        as_int = all(isinstance(x, int) for x in (lo, hi, step))
        return [int(v) if as_int else float(v) for v in out]
    return [_number(part, spec) for part in text.split(",") if part]


def parse_grid(spec: str) -> dict[str, list[ParamValue]]:
    """``"fast=5..20 slow=20..60"`` → ``{"fast": [5..20], "slow": [20..60]}``."""
    grid: dict[str, list[ParamValue]] = {}
    for item in spec.split():
        name, eq, text = item.partition("=")
        if not eq or not name or not text:
            raise ValidationError(f"grid item {item!r} must look like name=a..b or name=1,2,3")
        grid[name] = _values(name, text)
    if not grid:
        raise ValidationError("the grid is empty; e.g. --grid 'fast=5..20 slow=20..60'")
    total = 1
    for values in grid.values():
        total *= len(values)
    if total > MAX_COMBINATIONS:
        raise ValidationError(f"the grid has {total} combinations (at most {MAX_COMBINATIONS})")
    return grid


def combinations(grid: dict[str, list[ParamValue]]) -> Iterator[dict[str, ParamValue]]:
    """Every combination of the grid, as parameter dicts."""
    names = list(grid)
    for values in itertools.product(*(grid[n] for n in names)):
        yield dict(zip(names, values, strict=True))


@dataclass(frozen=True)
class GridRow:
    """The outcome of one combination: its metrics, or why it was skipped."""

    params: dict[str, ParamValue]
    metrics: dict[str, Any] | None
    skipped: str | None = None


def _run_one(config: BacktestConfig) -> GridRow:
    params = dict(config.params)
    try:
        result = run_backtest(config)
    except OmegaError as exc:
        return GridRow(params, None, str(exc))
    return GridRow(params, result.performance.as_dict())


def _init_worker() -> None:
    """In each worker: leave Ctrl-C to the parent, and die with the parent (Linux)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() == 1:  # the parent died before prctl: nothing to work for
            os._exit(1)


class GridStopped(Exception):  # a signal, not an error of the grid
    """SIGTERM arrived in the parent while the grid ran (the workers are already gone)."""


def run_grid(
    base: BacktestConfig,
    grid: dict[str, list[ParamValue]],
    *,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    cache: Path | bool | None = True,
) -> list[GridRow]:
    """Backtest every combination on ``workers`` processes (default: every core).

    ``cache``: True = the user cache folder, a path = that SQLite file, False/None = none.
    """
    combos = list(combinations(grid))
    load_source(base.data, base.symbol, base.timeframe)  # errors now; workers inherit the data
    store = _open_cache(cache)
    keys = [_cache_key(base, p) for p in combos]
    known = store.get_many(keys) if store else {}
    rows: dict[str, GridRow] = dict(known)
    todo: dict[str, BacktestConfig] = {}
    for key, p in zip(keys, combos, strict=True):
        if key not in rows and key not in todo:
            todo[key] = replace(base, params={**base.params, **p})
    total, done = len(combos), len(combos) - len(todo)
    if progress:
        progress(done, total)
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    fresh: dict[str, GridRow] = {}
    try:
        with contextlib.closing(_execute(todo, n_workers)) as results:
            for key, row in results:
                fresh[key] = rows[key] = row
                done += 1
                if progress:
                    progress(done, total)
    finally:
        if store:
            store.put_many(fresh)
            store.close()
    return [rows[k] for k in keys]


def _execute(
    todo: dict[str, BacktestConfig], n_workers: int
) -> Generator[tuple[str, GridRow], None, None]:
    if n_workers == 1:
        for key, config in todo.items():
            yield key, _run_one(config)
        return
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: object) -> None:
        raise GridStopped

    # before the fork: a SIGTERM that comes while the pool starts stops the grid too (a
    # worker forked meanwhile dies with us: PR_SET_PDEATHSIG, or its ppid check)
    signal.signal(signal.SIGTERM, on_term)
    pool = None
    try:
        pool = ctx.Pool(n_workers, initializer=_init_worker)
        keys = list(todo)
        configs = [todo[k] for k in keys]
        chunk = max(1, min(8, len(configs) // (n_workers * 8)))
        for k, row in pool.imap_unordered(_run_indexed, enumerate(configs), chunksize=chunk):
            yield keys[k], row
        pool.close()
    except BaseException:
        if pool is not None:
            pool.terminate()  # SIGTERM to every worker now; they die before we return
        raise
    finally:
        if pool is not None:
            pool.join()
        signal.signal(signal.SIGTERM, previous)


def _run_indexed(item: tuple[int, BacktestConfig]) -> tuple[int, GridRow]:
    return item[0], _run_one(item[1])


def _cache_key(base: BacktestConfig, params: dict[str, ParamValue]) -> str:
    """Everything that decides a grid point's result, hashed."""
    stat = base.data.stat()
    strategy = base.strategy
    try:
        source = inspect.getsourcefile(strategy) or ""
        source_mtime = os.stat(source).st_mtime_ns if source else 0
    except (OSError, TypeError):
        source, source_mtime = "", 0
    parts = {
        "version": __version__,
        "data": [str(base.data.resolve()), stat.st_size, stat.st_mtime_ns],
        "symbol": base.symbol, "timeframe": base.timeframe,
        "strategy": [strategy.__module__, strategy.__qualname__, source, source_mtime],
        "params": sorted({**base.params, **params}.items()),
        "range": [base.from_ms, base.to_ms], "capital": str(base.capital),
        "fees": [str(base.taker_fee), str(base.maker_fee)],
        "book": base.book.model_dump(), "limits": repr(base.limits),
    }  # fmt: skip
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class _Cache:
    """Grid rows by key in one SQLite table (results only: a few hundred bytes a row)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path)
        self._db.execute("CREATE TABLE IF NOT EXISTS rows (key TEXT PRIMARY KEY, row TEXT)")

    def get_many(self, keys: list[str]) -> dict[str, GridRow]:
        out: dict[str, GridRow] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            part = unique[start : start + 500]
            marks = ",".join("?" * len(part))
            sql = f"SELECT key, row FROM rows WHERE key IN ({marks})"  # noqa: S608  # only ?s
            for key, text in self._db.execute(sql, part):
                data = json.loads(text)
                out[key] = GridRow(data["params"], data["metrics"], data["skipped"])
        return out

    def put_many(self, rows: dict[str, GridRow]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO rows (key, row) VALUES (?, ?)",
                [(k, json.dumps(r.__dict__, default=str)) for k, r in rows.items()],
            )

    def close(self) -> None:
        self._db.close()


def _open_cache(cache: Path | bool | None) -> _Cache | None:
    if not cache:
        return None
    if cache is True:
        import platformdirs

        path = platformdirs.user_cache_path("omegafarm") / "grid.sqlite3"
    else:
        path = Path(cache)
    try:
        return _Cache(path)
    except (sqlite3.Error, OSError):
        return None  # a cache we cannot open only costs time


def best_first(rows: list[GridRow], key: str = "sharpe") -> list[GridRow]:
    """Rows ordered by ``key`` (highest first), skipped and undefined ones last."""

    def score(row: GridRow) -> float:
        value = (row.metrics or {}).get(key)
        return float(value) if isinstance(value, int | float) else float("-inf")

    return sorted(rows, key=score, reverse=True)

"""Parameter sweeps: every combination of a grid, backtested on all cores.

A grid spec is space-separated ``name=values`` where values are ``a..b`` (integers a to b
inclusive), ``a..b:step`` (integers or decimals) or a comma list ``5,10,20``::

    "fast=5..20 slow=20..60:5"

Each combination runs in a worker process (``ProcessPoolExecutor``, one per core); a
combination the strategy rejects (e.g. fast >= slow) is reported as skipped with the reason.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from omegafarm.bots.backtest import BacktestConfig, run_backtest
from omegafarm.bots.strategy import ParamValue
from omegafarm.core.errors import OmegaError, ValidationError

MAX_COMBINATIONS = 100_000


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


def run_grid(
    base: BacktestConfig,
    grid: dict[str, list[ParamValue]],
    *,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[GridRow]:
    """Backtest every combination on ``workers`` processes (default: every core)."""
    configs = [replace(base, params={**base.params, **p}) for p in combinations(grid)]
    rows: list[GridRow] = []
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(configs)))
    if n_workers == 1:
        for k, config in enumerate(configs, 1):
            rows.append(_run_one(config))
            if progress:
                progress(k, len(configs))
        return rows
    with ProcessPoolExecutor(max_workers=n_workers) as pool:
        futures = [pool.submit(_run_one, config) for config in configs]
        for k, future in enumerate(as_completed(futures), 1):
            rows.append(future.result())
            if progress:
                progress(k, len(configs))
    return rows


def best_first(rows: list[GridRow], key: str = "sharpe") -> list[GridRow]:
    """Rows ordered by ``key`` (highest first), skipped and undefined ones last."""

    def score(row: GridRow) -> float:
        value = (row.metrics or {}).get(key)
        return float(value) if isinstance(value, int | float) else float("-inf")

    return sorted(rows, key=score, reverse=True)

"""``omega bots list/start/stop/status`` and ``omega worker``: control and scale the farm."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from omegafarm.cli._app import fail, load_settings_or_exit
from omegafarm.core.errors import OmegaError

app = typer.Typer(help="List, start, stop and inspect the farm's bots.", no_args_is_help=True)
console = Console()
T = TypeVar("T")
_STATUS_FIELDS = ("worker", "state", "position", "equity", "realized_pnl", "trades")


def _farm_settings(settings: Any) -> Any:
    from omegafarm.bots.config import FarmSettings

    found = getattr(settings, "bots", None)
    return found if isinstance(found, FarmSettings) else FarmSettings()


def _with_redis(ctx: typer.Context, work: Callable[[Any, Any], Awaitable[T]]) -> T:
    from omegafarm.store import RedisClient

    settings = load_settings_or_exit(ctx)

    async def run() -> T:
        async with RedisClient(settings.redis) as redis:
            return await work(redis, settings)

    try:
        return asyncio.run(run())
    except OmegaError as exc:
        raise fail(str(exc), 1) from None


async def _bots(redis: Any) -> dict[str, Any]:
    from omegafarm.bots import _names

    return dict(await redis.get(_names.BOTS) or {})


@app.command("list")
def list_bots(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every registered bot with its worker, state, position and PnL."""
    from omegafarm.bots import _names

    async def work(redis: Any, _settings: Any) -> list[dict[str, Any]]:
        rows = []
        for bot_id, spec in sorted((await _bots(redis)).items()):
            status = await redis.get(_names.status(bot_id)) or {}
            desired = await redis.get(_names.desired(bot_id)) or "running"
            row = {"id": bot_id, "strategy": spec["strategy"], "symbol": spec["symbol"]}
            row["desired"] = desired
            row.update({k: status.get(k) for k in _STATUS_FIELDS})
            rows.append(row)
        return rows

    rows = _with_redis(ctx, work)
    if as_json:
        print(json.dumps(rows, default=str))
        return
    if not rows:
        console.print("no bots registered (is `omega up` running?)")
        return
    table = Table(title=f"{len(rows)} bots")
    for head in rows[0]:
        table.add_column(head)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(table)


def _set_desired(ctx: typer.Context, bot_id: str, value: str) -> None:
    from omegafarm.bots import _names

    async def work(redis: Any, _settings: Any) -> bool:
        if bot_id not in await _bots(redis):
            return False
        await redis.set(_names.desired(bot_id), value)
        return True

    if not _with_redis(ctx, work):
        raise fail(f"no bot {bot_id!r} is registered; see `omega bots list`")
    console.print(f"bot {bot_id}: {value} (workers apply it within a third of the lease TTL)")


@app.command("start")
def start(ctx: typer.Context, bot_id: Annotated[str, typer.Argument(help="Bot id.")]) -> None:
    """Let a stopped bot run again (a worker picks it up)."""
    _set_desired(ctx, bot_id, "running")


@app.command("stop")
def stop(ctx: typer.Context, bot_id: Annotated[str, typer.Argument(help="Bot id.")]) -> None:
    """Stop a bot: its worker stops the strategy, saves its state and frees its lease."""
    _set_desired(ctx, bot_id, "stopped")


@app.command("status")
def status(ctx: typer.Context, bot_id: Annotated[str, typer.Argument(help="Bot id.")]) -> None:
    """The full status record of one bot (JSON)."""
    from omegafarm.bots import _names

    async def work(redis: Any, _settings: Any) -> dict[str, Any] | None:
        if bot_id not in await _bots(redis):
            return None
        return {
            "spec": (await _bots(redis))[bot_id],
            "desired": await redis.get(_names.desired(bot_id)) or "running",
            "status": await redis.get(_names.status(bot_id)),
        }

    found = _with_redis(ctx, work)
    if found is None:
        raise fail(f"no bot {bot_id!r} is registered; see `omega bots list`")
    print(json.dumps(found, default=str, indent=2))


def worker_command(
    ctx: typer.Context,
    lease_ttl: Annotated[float | None, typer.Option(help="Lease TTL in seconds.")] = None,
    worker_id: Annotated[
        str | None, typer.Option(help="Worker id (default host-pid-rand).")
    ] = None,
    optimize: Annotated[
        str | None,
        typer.Option(help="Instead of bots, add trials to this `omega optimize` study."),
    ] = None,
) -> None:
    """Run bots of the farm in this process (share one Redis; stop with Ctrl-C or SIGTERM)."""
    if optimize is not None:  # same as `omega optimize --study NAME --join`
        from omegafarm.cli.optimize import optimize as join_study

        join_study(ctx, study=optimize, join=True)
        return
    from omegafarm.bots.worker import Worker

    async def work(redis: Any, settings: Any) -> None:
        farm = _farm_settings(settings)
        if lease_ttl is not None:
            farm = farm.model_copy(update={"lease_ttl_s": lease_ttl})
        stop_event = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop_event.set)
        worker = Worker(redis, farm, worker_id)
        console.print(
            f"worker {worker.id} running (lease TTL {farm.lease_ttl_s}s)", highlight=False
        )
        await worker.run(stop_event)

    _with_redis(ctx, work)
    console.print("worker stopped")

"""``omega bots list/start/stop/status`` and ``omega worker``: control and scale the farm."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from omegafarm.cli._app import fail, load_settings_or_exit
from omegafarm.core.errors import OmegaError, ValidationError

if TYPE_CHECKING:  # imported lazily at run time: the CLI starts fast
    from omegafarm.bots.control import BotControl

app = typer.Typer(help="List, start, stop and inspect the farm's bots.", no_args_is_help=True)
console = Console()
T = TypeVar("T")
_STATUS_FIELDS = ("worker", "state", "position", "equity", "realized_pnl", "trades")


def _farm_settings(settings: Any) -> Any:
    from omegafarm.bots.config import FarmSettings

    found = getattr(settings, "bots", None)
    return found if isinstance(found, FarmSettings) else FarmSettings()


def _with_redis(ctx: typer.Context, work: Callable[[Any, Any], Awaitable[T]]) -> T:
    """Run ``work`` with the farm's Redis (refused, with one line, on an old key layout)."""
    from omegafarm.store import RedisClient
    from omegafarm.store.migrate import check_layout

    settings = load_settings_or_exit(ctx)

    async def run() -> T:
        async with RedisClient(settings.redis) as redis:
            await check_layout(redis)
            return await work(redis, settings)

    try:
        return asyncio.run(run())
    except OmegaError as exc:
        raise fail(str(exc), 1) from None


def _with_control(ctx: typer.Context, work: Callable[[BotControl], Awaitable[T]]) -> T:
    """Run ``work`` with the farm's bot control (the API's too), audited into the security
    section's audit log; a bad bot id or a disabled bot exits 2 with one line."""
    from omegafarm.bots.control import FarmControl
    from omegafarm.security import AuditLog

    async def run(redis: Any, settings: Any) -> T:
        sec = settings.security
        audit = AuditLog(sec.resolved_audit_file(), redis=redis, stream=sec.audit_stream)
        try:
            return await work(FarmControl(redis, audit))
        except ValidationError as exc:  # unknown or disabled bot: the user's input
            raise fail(f"{exc}; see `omega bots list`") from None

    return _with_redis(ctx, run)


@app.command("list")
def list_bots(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every registered bot with its worker, state, position and PnL."""
    columns = ("id", "strategy", "symbol", "desired", *_STATUS_FIELDS)

    async def work(control: BotControl) -> list[dict[str, Any]]:
        return [{k: row.get(k) for k in columns} for row in await control.list_bots()]

    rows = _with_control(ctx, work)
    if as_json:
        print(json.dumps(rows, default=str))
        return
    if not rows:
        console.print("no bots registered (is `omega up` running?)")
        return
    from omegafarm.cli._tables import money, plain, wrapping_table

    heads = ["id", "strategy", "symbol", "desired", "state", "worker", "position", "equity",
             "realized_pnl", "trades"]  # fmt: skip
    cells = [
        [plain(r.get(h)) if h in ("position", "trades") else money(r.get(h))
         if h in ("equity", "realized_pnl") else plain(r.get(h)) for h in heads]
        for r in rows
    ]  # fmt: skip
    numeric = ("position", "equity", "realized_pnl", "trades")
    console.print(wrapping_table(heads, cells, numeric=numeric, title=f"{len(rows)} bots"))


@app.command("start")
def start(ctx: typer.Context, bot_id: Annotated[str, typer.Argument(help="Bot id.")]) -> None:
    """Let a stopped bot run again (a worker picks it up)."""
    from omegafarm.cli._security import CLI_ACTOR

    _with_control(ctx, lambda control: control.start_bot(bot_id, actor=CLI_ACTOR))
    console.print(f"bot {bot_id}: running (workers apply it within a third of the lease TTL)")


@app.command("stop")
def stop(ctx: typer.Context, bot_id: Annotated[str, typer.Argument(help="Bot id.")]) -> None:
    """Stop a bot: its worker stops the strategy, saves its state and frees its lease."""
    from omegafarm.cli._security import CLI_ACTOR

    _with_control(ctx, lambda control: control.stop_bot(bot_id, actor=CLI_ACTOR))
    console.print(f"bot {bot_id}: stopped (workers apply it within a third of the lease TTL)")


@app.command("status")
def status(ctx: typer.Context, bot_id: Annotated[str, typer.Argument(help="Bot id.")]) -> None:
    """The full status record of one bot (JSON)."""
    found = _with_control(ctx, lambda control: control.bot_status(bot_id))
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


from omegafarm.cli.gateway import reconcile_command  # noqa: E402  # defined beside omega gateway

app.command("reconcile")(reconcile_command)

"""``omega gateway`` (a standby or stand-alone gateway) and ``omega bots reconcile ID``."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Annotated, Any

import typer
from rich.console import Console

from omegafarm.cli._app import fail

console = Console()


async def _exchange(redis: Any, settings: Any) -> Any:
    """The farm's exchange, started; a paper one is this farm's saved exchange, read-only."""
    from prometheus_client import CollectorRegistry

    from omegafarm.runtime import build_exchange
    from omegafarm.store import keys as _names

    exchange = build_exchange(settings, redis, metrics_registry=CollectorRegistry())
    await exchange.initialize()
    await exchange.fence_writes(redis.keys.key(_names.GATEWAY_LEASE), None)
    return exchange


def gateway_command(
    ctx: typer.Context,
    lease_ttl: Annotated[float | None, typer.Option(help="Gateway lease TTL in seconds.")] = None,
    gateway_id: Annotated[
        str | None, typer.Option(help="Gateway id (default host-pid-rand).")
    ] = None,
) -> None:
    """Run a gateway of the farm here: it takes its share of the command partitions (on a live
    exchange; on the paper exchange it stands by while another is active) and takes over a dead
    gateway's partitions within the lease TTL."""
    from prometheus_client import CollectorRegistry

    from omegafarm.bots.config import BotSettings, load_farm_file
    from omegafarm.bots.gateway_host import run_gateway
    from omegafarm.cli.bots import _farm_settings, _with_redis  # cli.bots imports this module
    from omegafarm.runtime import build_exchange
    from omegafarm.store import keys as _names

    async def work(redis: Any, settings: Any) -> None:
        farm = _farm_settings(settings)
        if lease_ttl is not None:
            farm = farm.model_copy(update={"lease_ttl_s": lease_ttl})
        registered: dict[str, Any] = await redis.get(_names.BOTS) or {}
        specs = [BotSettings.model_validate(v) for v in registered.values()]
        specs = specs or load_farm_file(farm.farm_file)
        exchange = build_exchange(settings, redis, metrics_registry=CollectorRegistry())
        async with exchange:
            stop_event = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop_event.set)
            markets = {(b.symbol, b.timeframe) for b in specs}

            def announce(found_id: str) -> None:
                console.print(
                    f"gateway {found_id} started for {len(markets)} markets (lease TTL "
                    f"{farm.lease_ttl_s}s): it shares the farm's command partitions with the "
                    "other gateways (on the paper exchange it stands by while another is "
                    "active)",
                    highlight=False,
                )

            await run_gateway(
                redis, exchange, farm, markets, stop_event, gateway_id=gateway_id, announce=announce
            )

    _with_redis(ctx, work)
    console.print("gateway stopped")


def reconcile_command(
    ctx: typer.Context,
    bot_id: Annotated[str, typer.Argument(help="Bot id.")],
    adopt: Annotated[
        bool, typer.Option("--adopt", help="Rebuild the ledger from the exchange; lift the halt.")
    ] = False,
    keep: Annotated[bool, typer.Option("--keep", help="Leave the bot halted.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Compare a bot's ledger with the exchange, show the differences, then adopt or keep."""
    from omegafarm.bots.config import BotSettings
    from omegafarm.bots.reconcile import Reconciler
    from omegafarm.cli.bots import _with_redis  # cli.bots imports this module

    if adopt and keep:
        raise fail("choose one of --adopt and --keep")

    async def work(redis: Any, settings: Any) -> dict[str, Any]:
        exchange = await _exchange(redis, settings)
        try:
            reconciler = Reconciler(redis, exchange)
            specs = {s.id: s for s in await reconciler.specs()}
            spec: BotSettings | None = specs.get(bot_id)
            if spec is None:
                raise fail(f"no bot {bot_id!r} is registered; see `omega bots list`")
            halt = await reconciler.halted(bot_id)
            diffs = [d.as_dict() for d in await reconciler.check(spec)]
            out: dict[str, Any] = {"bot_id": bot_id, "halted": halt, "differences": diffs}
            if adopt:
                ledger = await reconciler.adopt(spec)
                out["adopted"] = {"orders": len(ledger.orders), "cash": str(ledger.cash),
                                  "position": str(ledger.position)}  # fmt: skip
            return out
        finally:
            await exchange.shutdown()

    report = _with_redis(ctx, work)
    if as_json:
        print(json.dumps(report, default=str, indent=2))
    else:
        _print_report(report, keep)
    if report["differences"] and not report.get("adopted"):
        raise typer.Exit(1)


def _print_report(report: dict[str, Any], keep: bool) -> None:
    bot_id, halt, diffs = report["bot_id"], report["halted"], report["differences"]
    if halt:
        console.print(f"[bold red]{bot_id} is halted[/]: {halt['reason']}", highlight=False)
    console.print(f"{len(diffs)} difference(s) between the ledger and the exchange now:")
    for d in diffs:
        console.print(f"  {d['kind']:<20} {d['client_order_id'] or '-':<14} {d['detail']}",
                      highlight=False, soft_wrap=True)  # fmt: skip
    adopted = report.get("adopted")
    if adopted:
        console.print(
            f"adopted the exchange's state: {adopted['orders']} orders, cash {adopted['cash']}, "
            f"position {adopted['position']}; the bot runs again",
            highlight=False,
        )
    elif halt and not keep:
        console.print(f"`omega bots reconcile {bot_id} --adopt` rebuilds the ledger from the "
                      "exchange and lets it run; --keep leaves it halted")  # fmt: skip
    elif keep:
        console.print(f"{bot_id} stays halted")


def reset_paper_command(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", help="Really delete it.")] = False,
) -> None:
    """Forget the farm's saved paper exchange (orders, fills, balances, clock): the next
    `omega up` opens a new one. Refused while a gateway is active."""
    from omegafarm.cli.bots import _with_redis  # cli.bots imports this module
    from omegafarm.exchange.paper.journal import reset
    from omegafarm.store import keys as _names

    if not yes:
        raise fail("this deletes the paper exchange's orders and balances; add --yes to confirm")

    async def work(redis: Any, _settings: Any) -> bool:
        active = await redis.exists(_names.GATEWAY_LEASE)
        if active:
            raise fail("a gateway is active on this farm; stop `omega up`/`omega gateway` first")
        return await reset(redis)

    existed = _with_redis(ctx, work)
    console.print("paper exchange deleted" if existed else "no saved paper exchange")

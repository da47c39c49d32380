"""``omega exchange``: look at the exchange side of the farm (rate-limit budgets for now)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from omegafarm.cli._app import console, fail, load_settings_or_exit
from omegafarm.core.errors import OmegaError

if TYPE_CHECKING:  # ccxt, aiohttp and redis load when the command runs, not for --help
    from omegafarm.exchange.ratelimit import BucketSpec

app = typer.Typer(help="The exchange: rate-limit budgets and their use.", no_args_is_help=True)


def budgets(section: Any) -> dict[str, BucketSpec]:
    """The buckets of the configured exchange account and their budgets."""
    from omegafarm.exchange.factory import rate_interval_ms
    from omegafarm.exchange.ratelimit import local_limiter

    exchange_id = section.exchange_id
    limiter = local_limiter(section, rate_interval_ms(section))
    names = [f"weight:{exchange_id}", f"orders:{exchange_id}:{section.account}"]
    return {name: limiter.spec(name) for name in names}


async def _shared_usage(
    section: Any, redis_settings: Any, specs: dict[str, BucketSpec]
) -> dict[str, float]:
    from omegafarm.exchange.shared_limit import shared_limiter
    from omegafarm.store import RedisClient

    async with RedisClient(redis_settings) as redis:
        limiter = shared_limiter(section, redis)
        for name in specs:
            await limiter.acquire(name, 0.0)  # costs nothing, reads the shared state
        return {name: limiter.used_units.get(name, 0.0) for name in specs}


@app.command("limits")
def limits(
    ctx: typer.Context,
    exchange: Annotated[
        str | None, typer.Option("--exchange", help="ccxt id (default: the configured one).")
    ] = None,
) -> None:
    """Budgets of the exchange's rate-limit buckets and, with a shared Redis, their use now."""
    settings = load_settings_or_exit(ctx)
    section = settings.exchange
    if exchange:
        section = section.model_copy(update={"exchange_id": exchange})
    try:
        specs = budgets(section)
        shared = settings.redis.url is not None
        usage = asyncio.run(_shared_usage(section, settings.redis, specs)) if shared else {}
    except OmegaError as exc:
        raise fail(str(exc)) from None
    table = Table("bucket", "units/s", "burst", "used now")
    for name, spec in specs.items():
        used = "-"
        if name in usage:
            queued = "  (callers queued)" if usage[name] > spec.burst else ""
            used = f"{usage[name]:.1f} of {spec.burst:g}{queued}"
        table.add_row(name, f"{1.0 / spec.interval_s:.2f}", f"{spec.burst:g}", used)
    console.print(table)
    headroom = section.rate_limit_headroom
    console.print(
        f"{section.exchange_id}: {headroom:.0%} below ccxt's published rate; "
        + ("usage read from the shared Redis" if shared else "no shared Redis (redis.url) set"),
        highlight=False,
    )

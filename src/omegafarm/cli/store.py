"""``omega store migrate``: upgrade the farm's Redis from an older key layout in place."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.console import Console

from omegafarm.cli._app import fail, load_settings_or_exit

app = typer.Typer(help="The farm's Redis: upgrade an older key layout in place.")
console = Console()


@app.command("migrate")
def migrate_command(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan, change nothing.")
    ] = False,
) -> None:
    """Rename the farm's keys of the older layout (before hash tags) to today's names. Stop
    every `omega up`, `omega worker` and `omega gateway` of the farm first."""
    from omegafarm.core.errors import OmegaError
    from omegafarm.store import RedisClient
    from omegafarm.store.migrate import Report, migrate

    settings = load_settings_or_exit(ctx)

    async def run() -> Report:
        async with RedisClient(settings.redis) as redis:
            return await migrate(redis, dry_run=dry_run)

    try:
        report = asyncio.run(run())
    except OmegaError as exc:
        raise fail(str(exc), 1) from None
    _render(report, dry_run=dry_run)
    if report.held:
        bots = ", ".join(m.old.rsplit(":", 1)[-1] for m in report.held)
        raise fail(
            f"{len(report.held)} bots are still run by a worker of the old version ({bots}): "
            "stop every farm process, wait one lease TTL and run this again",
            1,
        )
    if report.conflicts:
        raise fail(
            f"{len(report.conflicts)} names exist in both layouts and were left as they are: "
            "see the list above",
            1,
        )


def _render(report: Any, *, dry_run: bool) -> None:
    if not report.moves:
        console.print("nothing to migrate: the farm's keys use today's layout")
        return
    verb = "would" if dry_run or not report.done else "did"
    counts: dict[str, int] = {}
    for move in report.moves:
        counts[move.kind] = counts.get(move.kind, 0) + 1
    for move in report.moves[:50]:
        target = f" -> {move.new}" if move.new else ""
        console.print(f"  {move.kind:<12} {move.old}{target}", highlight=False, soft_wrap=True)
    if len(report.moves) > 50:
        console.print(f"  … and {len(report.moves) - 50} more", highlight=False)
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    console.print(f"{verb} migrate {len(report.moves)} names ({summary})", highlight=False)
    for move in report.conflicts:
        console.print(f"  conflict: {move.old} -> {move.new} (new name exists)", highlight=False)

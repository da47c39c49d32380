"""The root typer app, its global options and the core commands (up, config)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from omegafarm import __version__
from omegafarm.cli._lazy import LazyGroup

app = typer.Typer(
    cls=LazyGroup,
    help="Omega Bot Farm: run, observe and learn a farm of crypto trading bots.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one clear error line and return the Exit to raise."""
    # soft_wrap: one error is one line, also when stderr is a file or a pipe (no 80-col wrap)
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def load_settings_or_exit(ctx: typer.Context, overrides: dict[str, Any] | None = None) -> Any:
    """The effective settings (global --config plus overrides), or a clean exit on bad input."""
    from omegafarm.core.config import iter_secrets
    from omegafarm.core.errors import OmegaError
    from omegafarm.core.logging import configure_logging
    from omegafarm.core.tracing import configure_from_settings
    from omegafarm.settings import load

    obj = ctx.ensure_object(dict)
    merged: dict[str, Any] = {}
    if obj.get("log_format") or obj.get("log_level"):
        pairs = (("format", obj.get("log_format")), ("level", obj.get("log_level")))
        merged["log"] = {k: v for k, v in pairs if v}
    for section, values in (overrides or {}).items():
        merged.setdefault(section, {}).update(values)
    try:
        settings = load(obj.get("config"), merged)
    except OmegaError as exc:
        raise fail(str(exc)) from None
    configure_logging(
        level=settings.log.level, fmt=settings.log.format, secrets=iter_secrets(settings)
    )
    try:
        configure_from_settings(settings.tracing)
    except OmegaError as exc:
        raise fail(str(exc)) from None
    return settings


def _version(value: bool) -> None:
    if value:
        console.print(f"omega {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML config file (or OMEGA_CONFIG).")
    ] = None,
    log_format: Annotated[
        str | None, typer.Option("--log-format", help="console (default) or json.")
    ] = None,
    log_level: Annotated[str | None, typer.Option("--log-level", help="debug, info...")] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    ctx.ensure_object(dict).update(config=config, log_format=log_format, log_level=log_level)


@app.command()
def up(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Listen address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8000).")] = None,
) -> None:
    """Start the embedded Redis, the services and the HTTP API; Ctrl-C stops everything."""
    import asyncio

    from omegafarm.core.errors import OmegaError
    from omegafarm.runtime import build_registry

    api: dict[str, Any] = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings = load_settings_or_exit(ctx, {"api": api} if api else None)
    registry = build_registry(settings)

    async def run() -> None:
        stop = asyncio.Event()
        runner = asyncio.create_task(registry.run_until_signal(stop))
        started = asyncio.create_task(_announce_when_started(registry))
        await asyncio.wait({runner, started}, return_when=asyncio.FIRST_COMPLETED)
        if runner.done():
            started.cancel()
        await runner

    try:
        asyncio.run(run())
    except OmegaError as exc:
        raise fail(str(exc), 1) from None
    console.print("omega stopped")


async def _announce_when_started(registry: Any) -> None:
    await registry.started.wait()
    lines = ["[bold green]omega is up[/]"]
    for service in registry:
        if service.name == "redis" and service.embedded is not None:
            server = service.embedded
            detail = f"embedded valkey (pid {server.pid}, data {server.data_dir})"
        elif service.name == "api":
            url = service.url
            detail = f"{url}  (health: {url}/health, metrics: {url}/metrics, docs: {url}/docs)"
        else:
            detail = (await service.health()).reason
        lines.append(f"  {service.name:<10} {detail}")
    lines.append("Press Ctrl-C to stop.")
    console.print("\n".join(lines), highlight=False, soft_wrap=True)


config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
def config_show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, not TOML.")] = False,
) -> None:
    """Print the effective configuration with secrets masked."""
    import json

    from omegafarm.core.config import masked_dump

    settings = load_settings_or_exit(ctx)
    data = masked_dump(settings)
    if as_json:
        console.print_json(json.dumps(data))
        return
    for section, values in data.items():
        console.print(f"[bold][{section}][/]", highlight=False)
        for key, value in values.items():
            console.print(f"{key} = {json.dumps(value)}", highlight=False, markup=False)
        console.print()

"""The root typer app, its global options and the core commands (up, config)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console

from omegafarm import __version__
from omegafarm.cli._lazy import BEFORE_RUN, LazyGroup

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


# Every section of omegafarm.settings.Settings and its model (tests/cli/test_startup.py checks
# this table against Settings). A command that needs a few sections loads only those: importing
# every section's model (and so its package) costs a short command more than its own work.
SECTIONS = {
    "log": "omegafarm.core.config:LogSettings",
    "redis": "omegafarm.store.config:RedisSettings",
    "api": "omegafarm.api.config:ApiSettings",
    "security": "omegafarm.security.config:SecuritySettings",
    "exchange": "omegafarm.exchange.config:ExchangeSettings",
    "vault": "omegafarm.exchange.config:VaultSettings",
    "cosmic": "omegafarm.cosmic.config:CosmicSettings",
    "education": "omegafarm.education.config:EducationSettings",
    "bots": "omegafarm.bots.config:FarmSettings",
    "alerts": "omegafarm.api.config:AlertSettings",
    "tracing": "omegafarm.core.tracing:TracingSettings",
}


def _load_sections(
    names: tuple[str, ...], config_file: Path | None, overrides: dict[str, Any]
) -> Any | None:
    """Settings with only ``names`` (plus log and tracing), layered like the full tree; None
    when the config file has a section the tree does not know (the full load then names it)."""
    import importlib
    import tomllib

    from pydantic import ConfigDict, Field, create_model

    from omegafarm.core.config import OmegaSettings, config_file_from_env, load_settings

    path = config_file or config_file_from_env()
    if path is not None:
        try:
            with path.open("rb") as fh:
                top = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError):
            return None  # the full load reports it, worded as always
        if any(str(key).lower() not in SECTIONS for key in top):
            return None
    fields: dict[str, Any] = {}
    for name in dict.fromkeys(("log", "tracing", *names)):
        module, _, attr = SECTIONS[name].partition(":")
        model = getattr(importlib.import_module(module), attr)
        fields[name] = (model, Field(default_factory=model))
    partial = create_model(  # other sections of the file and environment are not read here
        "PartialSettings",
        __base__=OmegaSettings,
        __config__=None,
        **fields,
    )
    partial.model_config = {**partial.model_config, **ConfigDict(extra="ignore")}
    partial.model_rebuild(force=True)
    return load_settings(partial, config_file=path, overrides=overrides)


# core.config.ENV_PREFIX (importing it imports pydantic-settings; a test keeps them equal)
ENV_PREFIX = "OMEGA_"


def nothing_layered(config_file: Path | None) -> bool:
    """True when no layer lies on the settings' defaults: no config file (``--config``) and no
    ``OMEGA_*`` variable, the only sources pydantic-settings would read besides the command's
    own arguments. A short command may then build what it reads from the defaults alone
    (``omega learn search``: ``education.query.SearchSettings``), without pydantic."""
    return config_file is None and not any(k.upper().startswith(ENV_PREFIX) for k in os.environ)


def load_settings_or_exit(
    ctx: typer.Context,
    overrides: dict[str, Any] | None = None,
    *,
    sections: tuple[str, ...] | None = None,
    configure: bool = True,
) -> Any:
    """The effective settings (global --config plus overrides), or a clean exit on bad input.

    ``sections``: the command reads only these (log and tracing always come along); the
    others are neither imported nor validated. ``configure=False``: logging and tracing are left
    alone; the command configures logging itself if it needs it (``configures_logging_itself``).
    """
    from omegafarm.core.errors import OmegaError

    obj = ctx.ensure_object(dict)
    merged: dict[str, Any] = {}
    if obj.get("log_format") or obj.get("log_level"):
        pairs = (("format", obj.get("log_format")), ("level", obj.get("log_level")))
        merged["log"] = {k: v for k, v in pairs if v}
    for section, values in (overrides or {}).items():
        merged.setdefault(section, {}).update(values)
    try:
        settings = None
        if sections is not None:
            settings = _load_sections(sections, obj.get("config"), merged)
        if settings is None:
            from omegafarm.settings import load

            settings = load(obj.get("config"), merged)
    except OmegaError as exc:
        raise fail(str(exc)) from None
    if not configure:
        return settings
    from omegafarm.core.config import iter_secrets
    from omegafarm.core.logging import configure_logging
    from omegafarm.core.tracing import configure_from_settings

    configure_logging(
        level=settings.log.level, fmt=settings.log.format, secrets=iter_secrets(settings)
    )
    try:
        configure_from_settings(settings.tracing)
    except OmegaError as exc:
        raise fail(str(exc)) from None
    return settings


def configures_logging_itself(command: Callable[..., None]) -> Callable[..., None]:
    """Mark a command that configures logging itself when it needs it: the root callback's set-up
    (``_lazy.prepare``) is then not run before it (it imports structlog)."""
    command.configures_logging_itself = True  # type: ignore[attr-defined]
    return command


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

    # Logs go to stderr from the first line on (structlog's default is stdout), so a command's
    # output stays clean for pipes; the settings reconfigure the level and format later. Done
    # when the command runs (``_lazy.prepare``), not here: a sub-command's --help is answered
    # after this callback, and importing structlog cost it more than the help itself.
    def configure() -> None:
        from omegafarm.core.logging import configure_logging

        fmt: Literal["console", "json"] = "json" if log_format == "json" else "console"
        configure_logging(level=log_level or "info", fmt=fmt)

    ctx.meta[BEFORE_RUN] = configure


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
        warm: asyncio.Future[None] | None = None
        if runner.done():
            started.cancel()
        else:  # up: load what only a later event needs, in a thread beside the loop, once the
            warm = asyncio.ensure_future(_import_later_soon())  # first probes are answered
        try:
            await runner
        finally:
            if warm is not None:
                await asyncio.gather(warm, return_exceptions=True)

    try:
        asyncio.run(run())
    except OmegaError as exc:
        raise fail(str(exc), 1) from None
    console.print("omega stopped")


async def _import_later_soon(delay_s: float = 5.0) -> None:
    import asyncio

    await asyncio.sleep(delay_s)
    await asyncio.to_thread(_import_later)


def _import_later() -> None:
    """Import what ``omega up`` left out of its start: ccxt (~0.6 s of CPU), which the paper
    exchange raises its errors with, is first needed at the first rejected order; loaded here
    in a thread after start, so that order does not stall the event loop."""
    from omegafarm.exchange.paper import _ccxt

    _ccxt.load()


async def _announce_when_started(registry: Any) -> None:
    await registry.started.wait()
    lines = ["[bold green]omega is up[/]"]
    dashboard, users = None, None
    for service in registry:
        if service.name == "redis" and service.embedded is not None:
            server = service.embedded
            detail = f"embedded valkey (pid {server.pid}, data {server.data_dir})"
        elif service.name == "api":
            url = service.url
            detail = f"{url}  (health: {url}/health, metrics: {url}/metrics, docs: {url}/docs)"
            dashboard = f"{url}/dashboard/"
        elif service.name == "bots" and hasattr(service, "farm_status"):
            from omegafarm.core.errors import OmegaError

            try:
                farm = await service.farm_status()
                detail = f"{farm['bots']} bots in the farm; workers pick them up within seconds"
            except OmegaError as exc:
                detail = f"bots: {exc}"
        else:
            detail = (await service.health()).reason
        if service.name == "security" and hasattr(service, "list_users"):
            users = len(service.list_users())
        lines.append(f"  {service.name:<10} {detail}")
    if dashboard:
        lines.append(f"[bold]Dashboard:[/] {dashboard}")
    if users == 0:
        lines.append(
            "No user yet. Create the first admin (it asks for a password), then log in:\n"
            "  omega users add admin --role admin"
        )
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
    from omegafarm.cli._toml import dumps

    # plain stdout, not rich: "[log]" would be read as markup, and long lines must not wrap
    typer.echo(dumps(data), nl=False)

"""``omega discord --token-env VAR``: run the education bot on Discord.

The token is read from the named environment variable so it never appears in the process
list, the shell history or a log line.
"""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import typer

from omegafarm.cli._app import console, fail, load_settings_or_exit
from omegafarm.core.errors import OmegaError
from omegafarm.education import EducationService, EducationSettings


def discord_command(
    ctx: typer.Context,
    token_env: Annotated[
        str, typer.Option("--token-env", help="Environment variable that holds the bot token.")
    ] = "DISCORD_TOKEN",  # noqa: S107  # the name of a variable, not a token
) -> None:
    """Run the Discord bot with /learn, /glossary, /search, /progress and /quiz."""
    token = os.environ.get(token_env, "").strip()
    if not token:
        raise fail(f"environment variable {token_env} is not set; put the Discord bot token in it")
    root = load_settings_or_exit(ctx)
    base = getattr(root, "education", None)
    settings = base if isinstance(base, EducationSettings) else EducationSettings()

    async def run() -> None:
        from omegafarm.education.discord_adapter import build_client

        async with EducationService(settings) as service:
            client = build_client(service)
            console.print("[green]discord bot starting[/] (Ctrl-C stops it)")
            async with client:
                await client.start(token)

    try:
        asyncio.run(run())
    except OmegaError as exc:
        raise fail(str(exc), 1) from None
    except KeyboardInterrupt:
        console.print("discord bot stopped")
    except Exception as exc:  # discord.py's login/connection errors; never echo the token
        raise fail(f"the Discord bot stopped: {type(exc).__name__}: {exc}", 1) from None

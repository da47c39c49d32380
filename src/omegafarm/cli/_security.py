"""Shared plumbing of the users, tokens and audit commands: open the SecurityService."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer

from omegafarm.cli._app import fail, load_settings_or_exit
from omegafarm.core.errors import OmegaError

if TYPE_CHECKING:  # the service imports the store (redis): loaded when a command runs
    from omegafarm.security import SecurityService, SecuritySettings

T = TypeVar("T")
CLI_ACTOR = f"cli:{getpass.getuser()}"


def security_settings(ctx: typer.Context) -> SecuritySettings:
    """The ``[security]`` section (defaults until the root settings carry one)."""
    from omegafarm.security.config import SecuritySettings

    settings = load_settings_or_exit(ctx)
    section = getattr(settings, "security", None)
    return section if isinstance(section, SecuritySettings) else SecuritySettings()


def run_with_security(ctx: typer.Context, action: Callable[[SecurityService], Awaitable[T]]) -> T:
    """Start the service (no Redis needed), run ``action``, stop; user errors exit 2."""

    from omegafarm.security import SecurityService

    async def main() -> T:
        async with SecurityService(security_settings(ctx)) as service:
            return await action(service)

    try:
        return asyncio.run(main())
    except OmegaError as exc:
        raise fail(str(exc)) from None

"""Shared plumbing of the users, tokens and audit commands: open the SecurityService.

Commands that take a credential away (``tokens revoke``, ``users remove``, ``users set
--role``) also reach the farm's Redis when a farm runs, so the service's normal path publishes
the invalidation and every running API drops its cached credential at once (without Redis an
API would keep accepting a revoked token for up to ``security.credential_cache_ttl_s``).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from omegafarm.cli._app import err_console, fail, load_settings_or_exit
from omegafarm.core.errors import OmegaError, StoreError

if TYPE_CHECKING:  # the service imports the store (redis): loaded when a command runs
    from omegafarm.security import SecurityService, SecuritySettings
    from omegafarm.store import RedisClient

T = TypeVar("T")
CLI_ACTOR = f"cli:{getpass.getuser()}"


def security_settings(ctx: typer.Context) -> SecuritySettings:
    """The ``[security]`` section (defaults until the root settings carry one)."""
    from omegafarm.security.config import SecuritySettings

    settings = load_settings_or_exit(ctx)
    section = getattr(settings, "security", None)
    return section if isinstance(section, SecuritySettings) else SecuritySettings()


@contextlib.asynccontextmanager
async def farm_redis(settings: Any) -> AsyncIterator[RedisClient | None]:
    """The farm's Redis while a farm can be listening, else None.

    An external server (``redis.url`` or Sentinel) is always tried; the embedded one only when a
    running ``omega up`` supervises it (a CLI command never starts a server of its own just to
    publish to nobody). When it cannot be reached the command still does its work and says that
    running APIs notice within the credential cache's lifetime.
    """
    from omegafarm.store import RedisClient
    from omegafarm.store.embedded import EmbeddedRedis

    redis_settings = settings.redis
    embedded = redis_settings.url is None and not redis_settings.sentinels
    if embedded and not EmbeddedRedis(redis_settings.data_dir).held_elsewhere():
        yield None  # no farm runs on this machine's embedded Redis: no API to tell
        return
    client = RedisClient(redis_settings)
    try:
        await client.initialize()
    except StoreError as exc:
        ttl = settings.security.credential_cache_ttl_s
        err_console.print(
            f"[yellow]warning:[/] cannot reach the farm's Redis ({exc}); running APIs refuse "
            f"the credential within {ttl:g} s (their cache), not at once",
            highlight=False,
            soft_wrap=True,
        )
        yield None
        return
    try:
        yield client
    finally:
        await client.shutdown()


def run_with_security(
    ctx: typer.Context,
    action: Callable[[SecurityService], Awaitable[T]],
    *,
    publish: bool = False,
) -> T:
    """Start the service, run ``action``, stop; user errors exit 2.

    ``publish``: the action invalidates credentials, so the service gets the farm's Redis (when
    a farm runs) and publishes the invalidation to every API process.
    """

    from omegafarm.security import SecurityService

    async def main() -> T:
        if not publish:
            async with SecurityService(security_settings(ctx)) as service:
                return await action(service)
        settings = load_settings_or_exit(ctx)
        async with (
            farm_redis(settings) as redis,
            SecurityService(settings.security, redis=redis) as service,
        ):
            return await action(service)

    try:
        return asyncio.run(main())
    except OmegaError as exc:
        raise fail(str(exc)) from None

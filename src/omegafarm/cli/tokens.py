"""``omega tokens``: create (shown once), list and revoke API tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from omegafarm.cli._app import console
from omegafarm.cli._security import CLI_ACTOR, run_with_security

if TYPE_CHECKING:  # the service imports the store (redis): loaded when a command runs
    from omegafarm.security import IssuedSecret, SecurityService, TokenInfo

app = typer.Typer(help="Manage API tokens (Bearer).", no_args_is_help=True)


@app.command("create")
def create(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="Owner of the token.")],
    label: Annotated[str, typer.Option("--label", help="What the token is for.")] = "",
    ttl_days: Annotated[
        float | None, typer.Option("--ttl-days", min=0.001, help="Expire after N days.")
    ] = None,
) -> None:
    """Create a token for USER and print it once: it cannot be shown again."""

    async def act(service: SecurityService) -> IssuedSecret:
        ttl_s = None if ttl_days is None else ttl_days * 86400
        return await service.create_token(user, actor=CLI_ACTOR, label=label, ttl_s=ttl_s)

    issued = run_with_security(ctx, act)
    console.print(
        f"token for [bold]{user}[/] (prefix {issued.prefix}); copy it now, it is not stored:",
        highlight=False,
    )
    print(issued.value)  # plain stdout, so scripts can capture exactly the token


@app.command("list")
def list_tokens(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="Only this user's tokens.")] = None,
) -> None:
    """List tokens by prefix (the secret part is never stored)."""

    async def act(service: SecurityService) -> list[TokenInfo]:
        return service.list_tokens(user)

    table = Table("prefix", "user", "label", "created (UTC)", "expires (UTC)", "state")
    for t in run_with_security(ctx, act):
        table.add_row(
            t.prefix,
            t.user,
            t.label,
            _when(t.created_ms),
            _when(t.expires_ms) if t.expires_ms else "never",
            "revoked" if t.revoked else "active",
        )
    console.print(table)


@app.command("revoke")
def revoke(
    ctx: typer.Context, prefix: Annotated[str, typer.Argument(help="The token's prefix.")]
) -> None:
    """Revoke a token by its public prefix."""

    async def act(service: SecurityService) -> TokenInfo:
        return await service.revoke_token(prefix, actor=CLI_ACTOR)

    info = run_with_security(ctx, act, publish=True)
    console.print(f"token {info.prefix} of {info.user} revoked", highlight=False)


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")

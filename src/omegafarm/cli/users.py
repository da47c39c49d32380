"""``omega users``: add, list, change and remove the people who may use the API."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from omegafarm.cli._app import console, fail
from omegafarm.cli._security import CLI_ACTOR, run_with_security
from omegafarm.core.errors import ValidationError
from omegafarm.security.roles import Role

if TYPE_CHECKING:  # the service imports the store (redis): loaded when a command runs
    from omegafarm.security import SecurityService

app = typer.Typer(help="Manage users (roles: viewer < trader < admin).", no_args_is_help=True)


def _role(text: str) -> Role:
    try:
        return Role.parse(text)
    except ValidationError as exc:
        raise fail(str(exc)) from None


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = typer.prompt("Password", hide_input=True)
    second = typer.prompt("Repeat password", hide_input=True)
    if first != second:
        raise fail("the two passwords differ")
    return str(first)


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="User name (a-z, 0-9, '_', '.', '-').")],
    role: Annotated[str, typer.Option("--role", help="viewer, trader or admin.")] = "viewer",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="Token-only user: no browser login.")
    ] = False,
) -> None:
    """Create a user; asks for a password unless --password-stdin or --no-password."""
    parsed = _role(role)
    password = None if no_password else _read_password(password_stdin)

    async def act(service: SecurityService) -> None:
        await service.add_user(name, parsed, password, actor=CLI_ACTOR)

    run_with_security(ctx, act)
    console.print(f"user [bold]{name}[/] added with role {parsed.label}", highlight=False)


@app.command("set")
def set_user(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str | None, typer.Option("--role", help="New role.")] = None,
    password: Annotated[bool, typer.Option("--password", help="Set a new password.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the new password from stdin.")
    ] = False,
) -> None:
    """Change a user's role and/or password."""
    parsed = None if role is None else _role(role)
    new_password = _read_password(password_stdin) if password or password_stdin else None
    if parsed is None and new_password is None:
        raise fail("nothing to change: give --role and/or --password")

    async def act(service: SecurityService) -> None:
        await service.update_user(name, actor=CLI_ACTOR, role=parsed, password=new_password)

    run_with_security(ctx, act, publish=parsed is not None)
    console.print(f"user [bold]{name}[/] updated", highlight=False)


@app.command("list")
def list_users(ctx: typer.Context) -> None:
    """List users and their roles."""

    async def act(service: SecurityService) -> Table:
        table = Table("user", "role", "password", "created (UTC)")
        for user in service.list_users():
            created = datetime.fromtimestamp(user.created_ms / 1000, UTC)
            table.add_row(
                user.name,
                user.role.label,
                "yes" if user.has_password else "no",
                created.strftime("%Y-%m-%d %H:%M"),
            )
        return table

    console.print(run_with_security(ctx, act))


@app.command("remove")
def remove(ctx: typer.Context, name: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Delete a user together with their tokens and sessions."""

    async def act(service: SecurityService) -> None:
        await service.remove_user(name, actor=CLI_ACTOR)

    run_with_security(ctx, act, publish=True)
    console.print(f"user [bold]{name}[/] removed", highlight=False)

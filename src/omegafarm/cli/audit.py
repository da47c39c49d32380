"""``omega audit``: verify the hash chain of the audit log, show its latest entries."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from omegafarm.cli._app import console, err_console
from omegafarm.cli._security import security_settings
from omegafarm.security import read_file, verify_entries

app = typer.Typer(help="Inspect the tamper-evident audit log.", no_args_is_help=True)


@app.command("verify")
def verify(ctx: typer.Context) -> None:
    """Check every entry's hash and link: exit 0 if intact, 1 if tampered."""
    path = security_settings(ctx).resolved_audit_file()
    result = verify_entries(read_file(path))
    if result.ok:
        console.print(f"{path}: {result.message}", highlight=False)
        return
    err_console.print(f"[bold red]{path}: {result.message}[/]", highlight=False)
    raise typer.Exit(1)


@app.command("tail")
def tail(
    ctx: typer.Context,
    count: Annotated[int, typer.Option("-n", min=1, max=10_000, help="How many.")] = 20,
) -> None:
    """Print the last N entries as JSON lines."""
    path = security_settings(ctx).resolved_audit_file()
    for entry in read_file(path)[-count:]:
        print(json.dumps(entry, sort_keys=True))

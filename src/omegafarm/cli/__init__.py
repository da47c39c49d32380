"""The ``omega`` command line."""

from __future__ import annotations

import typer

app = typer.Typer(help="Omega Bot Farm", no_args_is_help=True)


def main() -> None:
    app()

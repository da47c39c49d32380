"""A typer group whose sub-commands are imported only when they run (or show their own help).

Why: importing every command module pulled ccxt, aiohttp, redis and FastAPI into
``omega --help`` (several seconds on a small machine). The root help lists each lazy command
from a one-line summary kept here, so it imports nothing; a command's module is imported the
first time the command is resolved, and the click command built from it is kept.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any

import typer
from typer import _click as click  # typer >= 0.25 vendors click: its Command/Context/Option
from typer._click.exceptions import UsageError
from typer.core import TyperCommand, TyperGroup, TyperOption
from typer.main import get_command_from_info, get_group
from typer.models import CommandInfo


@dataclass(frozen=True)
class LazyCommand:
    """Where a command lives: ``module:attr`` is a typer app (a group) or a command function."""

    target: str
    summary: str


class LazyGroup(TyperGroup):
    """TyperGroup that resolves names listed in ``lazy`` on first use."""

    lazy: dict[str, LazyCommand] = {}  # noqa: RUF012  # filled once by omegafarm.cli
    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.commands, *(n for n in self.lazy if n not in self.commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return flags_as_flags(self.commands[cmd_name])
        entry = self.lazy.get(cmd_name)
        if entry is None:
            return None
        if self._listing:  # the root help: a stand-in that carries the summary only
            return TyperCommand(cmd_name, help=entry.summary, short_help=entry.summary)
        command = flags_as_flags(_load(cmd_name, entry, self.rich_markup_mode))
        self.commands[cmd_name] = command
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except UsageError as exc:  # typer suggests from loaded commands only: add the lazy ones
            matches = get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if matches and "Did you mean" not in exc.message:
                names = ", ".join(repr(m) for m in matches)
                exc.message = f"{exc.message.rstrip('.')}. Did you mean {names}?"
            raise

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        flags_as_flags(self)
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def flags_as_flags(command: click.Command) -> click.Command:
    """Show ``--json`` as a flag, not ``--json <bool>`` (typer prints a type for flags)."""
    help_option = command.get_help_option(click.Context(command))  # built once, then cached
    for param in [*command.params, help_option]:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            flags_as_flags(sub)
    return command


def _load(name: str, entry: LazyCommand, markup: Any) -> click.Command:
    module_name, _, attr = entry.target.partition(":")
    target = getattr(importlib.import_module(module_name), attr)
    if isinstance(target, typer.Typer):
        group = get_group(target)
        group.name = name
        return group
    info = CommandInfo(name=name, callback=target)
    return get_command_from_info(info, pretty_exceptions_short=True, rich_markup_mode=markup)

"""A typer group whose sub-commands are imported only when they run (or show their own help).

Why: importing every command module pulled ccxt, aiohttp, redis and FastAPI into
``omega --help`` (several seconds on a small machine). The root help lists each lazy command
from a one-line summary kept here, so it imports nothing; a command's module is imported the
first time the command is resolved, and the click command built from it is kept.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any

import typer
from typer import _click as click  # typer >= 0.25 vendors click: its Command/Context/Option
from typer._click.exceptions import UsageError
from typer._click.globals import get_current_context
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption
from typer.main import get_command_from_info, get_group
from typer.models import CommandInfo

from omegafarm.cli._help import import_rich_help


@dataclass(frozen=True)
class LazyCommand:
    """Where a command lives: ``module:attr`` is a typer app (a group) or a command function."""

    target: str
    summary: str


class LazyGroup(TyperGroup):
    """TyperGroup that resolves names listed in ``lazy`` on first use."""

    lazy: dict[str, LazyCommand] = {}  # noqa: RUF012  # filled once by omegafarm.cli
    _listing = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        prepare(self)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        for param in self.params:  # typer appends the completion options after __init__
            _prepare_param(param)
        if not args and self.no_args_is_help:
            import_rich_help()  # `omega` alone prints the help
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.commands, *(n for n in self.lazy if n not in self.commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return prepare(self.commands[cmd_name])
        entry = self.lazy.get(cmd_name)
        if entry is None:
            return None
        if self._listing:  # the root help: a stand-in that carries the summary only
            return TyperCommand(cmd_name, help=entry.summary, short_help=entry.summary)
        command = prepare(_load(cmd_name, entry, self.rich_markup_mode))
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
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


# ctx.meta key: what the root callback leaves for the command that runs (logging set-up).
BEFORE_RUN = "omegafarm.before_run"
_PREPARED = "_omega_prepared"


def prepare(command: click.Command) -> click.Command:
    """Once per command (and its sub-commands): flags shown as flags, missing values, text and
    plain integers that skip typer's pydantic coercion, and a leaf callback that first runs
    ``ctx.meta[BEFORE_RUN]``."""
    if getattr(command, _PREPARED, False):
        return command
    setattr(command, _PREPARED, True)
    help_option = command.get_help_option(click.Context(command))  # built once, then cached
    for param in [*command.params, help_option]:
        _prepare_param(param)
    if help_option is not None and help_option.callback is not None:
        help_option.callback = _rich_help_first(help_option.callback)
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            prepare(sub)
    elif command.callback is not None:
        command.callback = _set_up_first(command.callback)
    return command


def _rich_help_first(show_help: Callable[..., Any]) -> Callable[..., Any]:
    """The help option's callback, importing typer's renderer the light way before a page."""

    @functools.wraps(show_help)
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value and not ctx.resilient_parsing:
            import_rich_help()
        return show_help(ctx, param, value)

    return callback


def _set_up_first(callback: Callable[..., Any]) -> Callable[..., Any]:
    """``callback`` preceded by what the root callback deferred to here (configuring logging:
    structlog and the settings models). A command's ``--help`` is answered while its arguments
    are parsed, before this runs, so help pages load none of it."""

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        before = get_current_context().meta.pop(BEFORE_RUN, None)
        if before is not None and not getattr(callback, "configures_logging_itself", False):
            before()
        return callback(*args, **kwargs)

    return run


class _LightOption(TyperOption):
    """A TyperOption that coerces the commonest values without pydantic: typer >= 0.26 builds a
    pydantic TypeAdapter per parameter before looking at the value, so parsing
    ``omega backtest --help`` imported pydantic for the root options nobody gave, and
    ``omega learn search sharpe`` for its text and its default ``--limit`` (a quarter of the
    command). See :func:`_coerce_light`; any other value goes through typer as before."""

    def process_value(self, ctx: click.Context, value: Any) -> Any:
        light = _coerce_light(self, value)
        if light is _TYPER:
            return super().process_value(ctx, value)
        # what typer does after coercing: a present value is not missing; then the callback
        return light if self.callback is None else self.callback(ctx, self, light)


class _LightArgument(TyperArgument):
    """:class:`_LightOption` for arguments."""

    def process_value(self, ctx: click.Context, value: Any) -> Any:
        light = _coerce_light(self, value)
        if light is _TYPER:
            return super().process_value(ctx, value)
        return light if self.callback is None else self.callback(ctx, self, light)


_TYPER: Any = object()  # _coerce_light's answer: leave this value to typer's coercion
_MAX_INT_DIGITS = 18  # longer digit strings go to typer (pydantic), which takes them as well


def _coerce_light(param: TyperOption | TyperArgument, value: Any) -> Any:
    """What typer's coercion gives for ``value``, when that is plain: a missing value of an
    optional parameter (None), text for a ``str`` parameter (the same string), an int or
    a string of ASCII digits for an ``int`` parameter without bounds (the int). Else
    :data:`_TYPER`: typer decides, with its own error messages. tests/cli/test_startup.py
    compares these answers with typer's on the same parameters."""
    if value is None:  # typer: None (a multiple or variadic one gives (), a required one fails)
        multi = param.multiple or param.nargs == -1
        return None if not (param.required or multi) else _TYPER
    described = param.type_descriptor
    info = described.parameter_info
    if (
        param.nargs != 1
        or param.multiple
        or described.file_annotation is not None
        or info.parser is not None
    ):
        return _TYPER
    kind = described.annotation
    if kind is str and type(value) is str:
        return value
    if kind is int and info.min is None and info.max is None and not info.clamp:
        if type(value) is int:
            return value
        if (
            type(value) is str
            and value.isascii()
            and value.isdigit()
            and len(value) <= _MAX_INT_DIGITS
        ):
            return int(value)
    return _TYPER


def _prepare_param(param: click.Parameter | None) -> None:
    # Show ``--json`` as a flag, not ``--json <bool>`` (typer prints a type for flags).
    if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
        param.metavar = ""
    _coerce_plain_values_lightly(param)


def _coerce_plain_values_lightly(param: click.Parameter | None) -> None:
    if type(param) is TyperOption:
        param.__class__ = _LightOption  # same fields: only process_value differs
    elif type(param) is TyperArgument:
        param.__class__ = _LightArgument


def _load(name: str, entry: LazyCommand, markup: Any) -> click.Command:
    module_name, _, attr = entry.target.partition(":")
    target = getattr(importlib.import_module(module_name), attr)
    if isinstance(target, typer.Typer):
        group = get_group(target)
        group.name = name
        return group
    info = CommandInfo(name=name, callback=target)
    return get_command_from_info(info, pretty_exceptions_short=True, rich_markup_mode=markup)

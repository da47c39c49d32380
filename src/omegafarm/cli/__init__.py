"""The ``omega`` command line: thin commands that parse, call a service and render.

Global options (``--config``, ``--log-format``, ``--log-level``) come before the command.
Errors a user can cause print one clear line and exit with status 2, never a traceback.
"""

from __future__ import annotations

from omegafarm.cli import analyze as _analyze
from omegafarm.cli import audit as _audit
from omegafarm.cli import backtest as _backtest
from omegafarm.cli import bots as _bots
from omegafarm.cli import data as _data
from omegafarm.cli import discord_bot, learn
from omegafarm.cli import exchange as _exchange
from omegafarm.cli import keys as _keys
from omegafarm.cli import optimize as _optimize
from omegafarm.cli import tokens as _tokens
from omegafarm.cli import users as _users
from omegafarm.cli._app import app

app.add_typer(learn.app, name="learn")
app.add_typer(_analyze.app, name="analyze")
app.add_typer(_users.app, name="users")
app.add_typer(_tokens.app, name="tokens")
app.add_typer(_audit.app, name="audit")
app.add_typer(_keys.app, name="keys")
app.add_typer(_exchange.app, name="exchange")
app.add_typer(_data.app, name="data")
app.command("discord")(discord_bot.discord_command)
app.command("backtest")(_backtest.backtest)
app.command("optimize")(_optimize.optimize)
app.add_typer(_bots.app, name="bots")
app.command("worker")(_bots.worker_command)


def main() -> None:
    """Entry point of the ``omega`` console script."""
    app()


__all__ = ["app", "main"]

"""The ``omega`` command line: thin commands that parse, call a service and render.

Global options (``--config``, ``--log-format``, ``--log-level``) come before the command.
Errors a user can cause print one clear line and exit with status 2, never a traceback.
Command modules are imported only when their command runs (``_lazy.LazyGroup``), so
``omega --help`` and ``omega backtest --help`` answer without loading ccxt, Redis or FastAPI.
A help page also loads no pydantic, structlog or settings model: the root callback's logging
set-up runs when a command runs, not before its ``--help`` (``_lazy.prepare``), options nobody
gave, text and plain integers skip typer's pydantic coercion, and typer's rich renderer is
imported without the markdown and traceback modules it never uses here (``_help``).
``omega learn search`` loads no pydantic either when nothing is configured (``learn``).
tests/cli/test_startup.py keeps these rules.
"""

from __future__ import annotations

from omegafarm.cli._app import app
from omegafarm.cli._lazy import LazyCommand, LazyGroup

LazyGroup.lazy = {
    "learn": LazyCommand(
        "omegafarm.cli.learn:app", "Learn trading and this platform: lessons, tutorials, glossary."
    ),
    "analyze": LazyCommand(
        "omegafarm.cli.analyze:app", "Cosmic analysis: walk-forward evidence tables and charts."
    ),
    "users": LazyCommand(
        "omegafarm.cli.users:app", "Manage users (roles: viewer < trader < admin)."
    ),
    "tokens": LazyCommand("omegafarm.cli.tokens:app", "Manage API tokens (Bearer)."),
    "audit": LazyCommand("omegafarm.cli.audit:app", "Inspect the tamper-evident audit log."),
    "keys": LazyCommand("omegafarm.cli.keys:app", "Exchange API keys, encrypted at rest."),
    "exchange": LazyCommand(
        "omegafarm.cli.exchange:app", "The exchange: rate-limit budgets and their use."
    ),
    "data": LazyCommand("omegafarm.cli.data:app", "Market data: candle history downloads."),
    "discord": LazyCommand(
        "omegafarm.cli.discord_bot:discord_command",
        "Run the Discord bot with /learn, /glossary, /search, /progress and /quiz.",
    ),
    "backtest": LazyCommand(
        "omegafarm.cli.backtest:backtest",
        "Backtest a strategy on historical candles (or sweep a parameter grid).",
    ),
    "optimize": LazyCommand(
        "omegafarm.cli.optimize:optimize",
        "Search strategy parameters with Optuna; report walk-forward, PBO and deflated Sharpe.",
    ),
    "bots": LazyCommand("omegafarm.cli.bots:app", "List, start, stop and inspect the farm's bots."),
    "worker": LazyCommand(
        "omegafarm.cli.bots:worker_command",
        "Run bots of the farm in this process (share one Redis; stop with Ctrl-C or SIGTERM).",
    ),
    "store": LazyCommand(
        "omegafarm.cli.store:app", "The farm's Redis: upgrade an older key layout in place."
    ),
    "gateway": LazyCommand(
        "omegafarm.cli.gateway:gateway_command",
        "Run a gateway here: shares the command partitions, takes over a dead gateway's.",
    ),
}


def main() -> None:
    """Entry point of the ``omega`` console script."""
    app()


__all__ = ["app", "main"]

"""Start-up hygiene: importing the CLI or the settings loads no heavy package.

Each check runs a fresh interpreter (``sys.modules`` of the test process is already full) and
lists which of the heavy packages the import pulled in; ``omega --help`` and
``omega backtest --help`` run as real subprocesses and must not load them either.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = (
    "ccxt",
    "aiohttp",
    "fastapi",
    "starlette",
    "uvicorn",
    "scipy",
    "matplotlib",
    "redis",
    "optuna",
    "bokeh",
    "plotly",
    "pandas",
    "numba",
    "talib",
)

PROBE = """
import json, runpy, sys
heavy = {heavy!r}
target = sys.argv[1]
if target == "cli":
    sys.argv = ["omega", *sys.argv[2:]]
    try:
        runpy.run_module("omegafarm", run_name="__main__")
    except SystemExit:
        pass
else:
    __import__(target)
loaded = sorted(name for name in heavy if name in sys.modules)
print(json.dumps(loaded), file=sys.stderr)
"""


def heavy_loaded(*args: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "100"},
        check=False,
    )
    last = proc.stderr.strip().splitlines()[-1]
    loaded: list[str] = json.loads(last)
    return loaded


@pytest.mark.parametrize("module", ["omegafarm.cli", "omegafarm.settings"])
def test_importing_loads_no_heavy_package(module: str) -> None:
    assert heavy_loaded(module) == []


COMMANDS = (
    "learn", "analyze", "users", "tokens", "audit", "keys", "exchange", "data", "discord",
    "backtest", "bots", "worker", "up", "config",
)  # fmt: skip


def test_root_help_loads_no_heavy_package() -> None:
    assert heavy_loaded("cli", "--help") == []


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help_loads_no_heavy_package(command: str) -> None:
    assert heavy_loaded("cli", command, "--help") == []


def test_help_lists_every_command_and_shows_flags_as_flags() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "omegafarm", "backtest", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "120"},
        check=True,
    )
    json_line = next(line for line in proc.stdout.splitlines() if "--json" in line)
    assert "<bool>" not in json_line
    root = subprocess.run(
        [sys.executable, "-m", "omegafarm", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "120"},
        check=True,
    ).stdout
    for command in ("up", "config", "learn", "backtest", "bots", "worker", "data", "keys"):
        assert f" {command} " in root


def test_a_mistyped_command_suggests_a_lazy_one() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "omegafarm", "backtst"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "Did you mean 'backtest'?" in proc.stderr

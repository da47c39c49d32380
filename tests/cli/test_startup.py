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
from pathlib import Path

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


def test_the_cli_section_table_matches_the_settings_tree() -> None:
    import importlib

    from omegafarm.cli._app import SECTIONS
    from omegafarm.settings import Settings

    assert list(SECTIONS) == list(Settings.model_fields)
    for name, where in SECTIONS.items():
        module, _, attr = where.partition(":")
        assert Settings.model_fields[name].annotation is getattr(
            importlib.import_module(module), attr
        )


def test_learn_search_opens_the_index_without_the_service(tmp_path: Path) -> None:
    """`omega learn search` reads the saved index: no service, no content files, no settings
    tree, no tracing SDK (the first run builds the index, the second only opens it)."""
    not_needed = (
        "omegafarm.education.service", "omegafarm.education.loader", "omegafarm.settings",
        "opentelemetry.sdk.trace", "fsrs", "numpy", "yaml", "prometheus_client",
    )  # fmt: skip
    probe = PROBE.replace("heavy = {heavy!r}", f"heavy = {not_needed!r}")
    env = {**os.environ, "COLUMNS": "100", "OMEGA_EDUCATION__INDEX_DIR": str(tmp_path)}
    loaded = []
    for _ in range(2):
        proc = subprocess.run(
            [sys.executable, "-c", probe, "cli", "learn", "search", "sharpe"],
            capture_output=True, text=True, timeout=60, env=env, check=False,
        )  # fmt: skip
        assert "sharpe" in proc.stdout.lower()
        loaded.append(json.loads(proc.stderr.strip().splitlines()[-1]))
    assert "omegafarm.education.loader" in loaded[0]  # built the index
    assert loaded[1] == []


def test_omega_ups_composition_root_leaves_out_what_only_later_events_need() -> None:
    """ccxt (first paper error; `omega up` warms it in a thread once running), httpx (first
    alert notification), the tracing SDK (tracing off) and markdown-it (first lesson page) are
    not imported to start the farm."""
    later = ("ccxt", "httpx", "opentelemetry.sdk.trace", "markdown_it")
    probe = PROBE.replace("heavy = {heavy!r}", f"heavy = {later!r}")
    proc = subprocess.run(
        [sys.executable, "-c", probe, "omegafarm.runtime"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == []

"""Start-up hygiene: importing the CLI or the settings loads no heavy package.

Each check runs a fresh interpreter (``sys.modules`` of the test process is already full) and
lists which of the heavy packages the import pulled in; ``omega --help`` and
``omega backtest --help`` run as real subprocesses and must not load them either.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


@pytest.mark.parametrize("layered", [False, True], ids=["nothing-configured", "omega-variable"])
def test_learn_search_loads_no_heavy_package(tmp_path: Path, layered: bool) -> None:
    """The search itself (the saved index built by the first run, opened by the second)."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("OMEGA_")}
    env.update(COLUMNS="100", XDG_CACHE_HOME=str(tmp_path))
    if layered:
        env["OMEGA_EDUCATION__MAX_QUERY_TERMS"] = "12"
    for _ in range(2):
        proc = subprocess.run(
            [sys.executable, "-c", PROBE.format(heavy=HEAVY), "cli", "learn", "search", "sharpe"],
            capture_output=True, text=True, timeout=120, env=env, check=False,
        )  # fmt: skip
        assert "sharpe" in proc.stdout.lower(), proc.stderr
        assert json.loads(proc.stderr.strip().splitlines()[-1]) == []


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


# What a help page needs none of: the settings models and logging (pydantic, pydantic-settings,
# structlog, OpenTelemetry) and the parts of rich that typer's help renderer imports but never
# uses for us (rich.markdown: markdown-it; rich.traceback: pygments). See cli/_lazy.py and
# cli/_help.py.
HELP_NOT_NEEDED = (
    "pydantic", "pydantic_settings", "structlog", "opentelemetry.trace", "markdown_it",
    "pygments", "rich.markdown", "rich.traceback",
)  # fmt: skip


@pytest.mark.parametrize(
    "args", [("--help",), ("backtest", "--help"), ("learn", "search", "--help")]
)
def test_help_pages_load_no_settings_logging_or_markdown(args: tuple[str, ...]) -> None:
    probe = PROBE.replace("heavy = {heavy!r}", f"heavy = {HELP_NOT_NEEDED!r}")
    proc = subprocess.run(
        [sys.executable, "-c", probe, "cli", *args],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "100"},
        check=False,
    )  # fmt: skip
    assert "Usage:" in proc.stdout
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == []


# The same page when rich.markdown and rich.traceback were imported before typer's renderer
# (so cli/_help.py has nothing to stand in for): the stand-ins change nothing on the page.
RUN_CLI = """
import runpy, sys
{preload}
sys.argv = ["omega", *sys.argv[1:]]
runpy.run_module("omegafarm", run_name="__main__")
"""


@pytest.mark.parametrize(
    "args",
    [("--help",), ("backtest", "--help"), ("learn", "--help"), ("learn", "search", "--help")],
)
def test_help_pages_are_the_same_with_the_full_rich_renderer(args: tuple[str, ...]) -> None:
    env = {**os.environ, "COLUMNS": "100"}
    pages = []
    for preload in ("", "import rich.markdown, rich.traceback"):
        pages.append(subprocess.run(
            [sys.executable, "-c", RUN_CLI.format(preload=preload), *args],
            capture_output=True, text=True, timeout=60, env=env, check=True,
        ).stdout)  # fmt: skip
    assert "Usage: omega" in pages[0]
    assert pages[0] == pages[1]


def test_the_help_stand_ins_reach_the_real_classes() -> None:
    """typer's renderer keeps stand-ins for Markdown and Traceback: used, they are the real ones
    (a markdown help text, a pretty traceback), and rich.markdown imports as usual afterwards."""
    code = """
import sys
from omegafarm.cli._help import import_rich_help
import_rich_help()
import typer.rich_utils as ru
assert "rich.markdown" not in sys.modules and "rich.traceback" not in sys.modules
md = ru.Markdown("**bold**")
import rich.markdown, rich.traceback
assert type(md) is rich.markdown.Markdown
try:
    raise ValueError("x")
except ValueError as exc:
    tb = ru.Traceback.from_exception(type(exc), exc, exc.__traceback__)
assert type(tb) is rich.traceback.Traceback
print("ok")
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.stdout.strip() == "ok", proc.stderr


def test_a_command_that_runs_logs_to_stderr_from_the_start(tmp_path: Path) -> None:
    """The root callback's logging set-up is deferred to the command (not its --help), and
    still comes before the command's body: structlog writes to stderr."""
    code = """
import runpy, sys
sys.argv = ["omega", "backtest", "--strategy", "sma_cross", "--data", sys.argv[1]]
try:
    runpy.run_module("omegafarm", run_name="__main__")
except SystemExit:
    pass
import structlog
factory = structlog.get_config()["logger_factory"]
print(factory._file is sys.stderr, file=sys.stderr)
"""
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "missing.csv")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.stderr.strip().splitlines()[-1] == "True", proc.stderr


def test_cli_env_prefix_is_the_settings_one() -> None:
    from omegafarm.cli._app import ENV_PREFIX
    from omegafarm.core.config import ENV_PREFIX as SETTINGS_ENV_PREFIX

    assert ENV_PREFIX == SETTINGS_ENV_PREFIX


def test_nothing_is_layered_without_a_config_file_or_an_omega_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Only then may `omega learn search` read the defaults without pydantic-settings."""
    from omegafarm.cli._app import nothing_layered

    for name in [k for k in os.environ if k.upper().startswith("OMEGA_")]:
        monkeypatch.delenv(name)
    assert nothing_layered(None)
    assert not nothing_layered(tmp_path / "omega.toml")
    monkeypatch.setenv("omega_education__max_query_terms", "9")  # read case-insensitively
    assert not nothing_layered(None)


def test_learn_search_with_nothing_configured_loads_no_settings_library(tmp_path: Path) -> None:
    """No OMEGA_* variable, no config file: the second search opens the saved index without
    pydantic (typer's coercion of its arguments included), the settings models, the service's
    value objects, structlog or OpenTelemetry, and prints what the layered path prints."""
    not_needed = (
        "pydantic", "pydantic_settings", "typer._adapters", "omegafarm.education.config",
        "omegafarm.education.models", "structlog", "opentelemetry.trace", "asyncio", "getpass",
    )  # fmt: skip
    probe = PROBE.replace("heavy = {heavy!r}", f"heavy = {not_needed!r}")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("OMEGA_")}
    env.update(COLUMNS="100", XDG_CACHE_HOME=str(tmp_path / "cache"))
    runs = []
    for _ in range(2):
        runs.append(subprocess.run(
            [sys.executable, "-c", probe, "cli", "learn", "search", "sharpe"],
            capture_output=True, text=True, timeout=60, env=env, check=False,
        ))  # fmt: skip
    assert "structlog" in json.loads(runs[0].stderr.strip().splitlines()[-1])  # built: logging
    assert json.loads(runs[1].stderr.strip().splitlines()[-1]) == []
    layered = subprocess.run(
        [sys.executable, "-m", "omegafarm", "learn", "search", "sharpe"],
        capture_output=True, text=True, timeout=60, check=True,
        env={**env, "OMEGA_EDUCATION__INDEX_DIR": str(tmp_path / "index")},
    )  # fmt: skip
    assert "sharpe" in runs[1].stdout.lower()
    assert runs[1].stdout == layered.stdout


# `omega learn search` as a user types it: results, corrections, filters, nothing found, errors
# (ours and typer's) and its help page.
SEARCHES = {
    "hits": ("sharpe",),
    "correction": ("fibonaci retracment",),
    "any-word": ("sharpe quokka",),
    "nothing": ("xyzzyqq",),
    "filters": ("order", "--kind", "lesson", "--difficulty", "beginner", "--limit", "3"),
    "category": ("risk", "--category", "risk-management", "--limit", "007"),
    "typer-int": ("risk", "--limit", "+2"),
    "empty": ("",),
    "too-long": ("x" * 300,),
    "bad-limit": ("sharpe", "--limit", "0"),
    "limit-over-max": ("sharpe", "--limit", "51"),
    "not-a-number": ("sharpe", "--limit", "ten"),
    "bad-kind": ("sharpe", "--kind", "video"),
    "no-query": (),
    "help": ("--help",),
}


@pytest.fixture(scope="module")
def search_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder of its own, with the saved index of the shipped content built."""
    from omegafarm.education import query

    cache = tmp_path_factory.mktemp("cache")
    query.cached_index(query.SearchSettings(index_dir=cache / "omegafarm")).close()
    return cache


@pytest.mark.parametrize("args", list(SEARCHES.values()), ids=list(SEARCHES))
def test_learn_search_prints_the_same_bytes_on_the_light_and_the_layered_path(
    search_cache: Path, args: tuple[str, ...]
) -> None:
    """Nothing configured (SearchSettings, no pydantic) and an OMEGA_* variable set (the
    layered settings through pydantic-settings): stdout, stderr and exit status are equal
    (in this process; the subprocess tests above compare a real run and its imports)."""
    from typer.testing import CliRunner

    from omegafarm.cli import app

    folder = search_cache / "omegafarm"
    (index,) = folder.glob("education-index-*.sqlite3")
    saved_ns = index.stat().st_mtime_ns
    unset: dict[str, str | None] = {k: None for k in os.environ if k.upper().startswith("OMEGA_")}
    light_env = {**unset, "COLUMNS": "100", "XDG_CACHE_HOME": str(search_cache)}
    runs = [
        CliRunner().invoke(app, ["learn", "search", *args], env=env)
        for env in (light_env, {**light_env, "OMEGA_EDUCATION__INDEX_DIR": str(folder)})
    ]
    light, layered = runs
    assert light.stdout or light.stderr
    assert index.stat().st_mtime_ns == saved_ns  # both opened the one saved index
    assert (light.exit_code, light.stdout, light.stderr) == (
        layered.exit_code, layered.stdout, layered.stderr,
    )  # fmt: skip


def _prepared_parameters() -> list[tuple[str, Any, Any]]:
    """Every parameter of every omega command (each command module imported), with the
    click context of its command."""
    import typer.main
    from typer import _click as click
    from typer.core import TyperGroup

    from omegafarm.cli import app

    found: list[tuple[str, Any, Any]] = []

    def walk(command: Any, path: str) -> None:
        ctx = click.Context(command)
        found.extend((f"{path} {p.name}", p, ctx) for p in command.params)
        if isinstance(command, TyperGroup):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), f"{path} {name}")

    walk(typer.main.get_command(app), "omega")
    return found


@functools.cache
def _parameters_by_annotation() -> dict[type, list[tuple[str, Any, Any]]]:
    from omegafarm.cli._lazy import _LightArgument, _LightOption

    grouped: dict[type, list[tuple[str, Any, Any]]] = {}
    for where, param, ctx in _prepared_parameters():
        assert isinstance(param, _LightOption | _LightArgument) or param.is_flag, where
        annotation = getattr(param, "type_descriptor", None)
        if annotation is not None:
            grouped.setdefault(annotation.annotation, []).append((where, param, ctx))
    return grouped


def _assert_coerced_as_typer_does(param: Any, ctx: Any, value: object) -> bool:
    """True when the light coercion answered (and gave what typer's own coercion gives)."""
    from omegafarm.cli._lazy import _TYPER, _coerce_light

    light = _coerce_light(param, value)
    if light is _TYPER:
        return False
    expected = param.get_runtime_param().coerce(value, param=param, ctx=ctx)
    assert type(light) is type(expected) and light == expected, (param.name, value)
    return True


PLAIN_VALUES = (
    None, "", "sharpe", "order book", "10", "007", "0", "+5", " 5", "5 ", "1_000", "5.0", "-3",
    "٣", "\udcff", "abc\x00", "9" * 18, "9" * 19, 10, 0, -1, 2.5, True,
)  # fmt: skip


@pytest.mark.parametrize("value", PLAIN_VALUES, ids=repr)
def test_the_light_coercion_gives_what_typer_gives_on_every_parameter(value: object) -> None:
    answered = 0
    for params in _parameters_by_annotation().values():
        for _where, param, ctx in params:
            answered += _assert_coerced_as_typer_does(param, ctx, value)
    if value is None or isinstance(value, str) or type(value) is int:
        assert answered  # str parameters take any text, int ones ints and digit strings


@settings(max_examples=200, deadline=None)
@given(value=st.text() | st.from_regex(r"\A[0-9]{1,20}\Z"))
def test_the_light_coercion_of_any_text_is_typers(value: str) -> None:
    params = _parameters_by_annotation()
    for annotation in (str, int):
        for _where, param, ctx in params[annotation]:
            _assert_coerced_as_typer_does(param, ctx, value)


def test_learn_search_parameters_take_the_light_path() -> None:
    """What `omega learn search sharpe` parses (its text, the default --limit, the options
    nobody gave) is all answered without typer's pydantic adapters."""
    from omegafarm.cli._lazy import _TYPER, _coerce_light

    values = {"query": "sharpe", "limit": 10, "category": None, "difficulty": None, "kind": None}
    for _annotation, params in _parameters_by_annotation().items():
        for where, param, _ctx in params:
            if where.startswith("omega learn search "):
                assert _coerce_light(param, values[param.name]) is not _TYPER, where

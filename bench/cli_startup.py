"""CLI start-up: wall and CPU time of ``omega --help``, ``omega backtest --help`` and
``omega learn search sharpe`` against ``python -c "import typer"`` (the floor of any typer CLI),
and ``omega up`` from launch to a healthy ``/health``.

Each command runs ROUNDS times in a fresh interpreter after one warm-up run (which writes the
bytecode cache and, for ``learn search``, the saved search index, as any first run does: this
measures the runs after it); the median counts. This machine is shared, so wall time depends on
the load: the load average is printed, and ``user+sys`` CPU time of the child (less sensitive to
the load) beside every wall time. ``PYTHONDONTWRITEBYTECODE`` is dropped from the children's
environment so our modules are loaded from bytecode, as from an installed package; the
bytecode goes to ``<tmp>/omega-bench-pycache`` (``PYTHONPYCACHEPREFIX``), not into the
checkouts.

``--compare SRC`` also runs every omega row with ``PYTHONPATH=SRC`` (another checkout, e.g.
``/work/main/src``), interleaved round by round with ours (in reversed order every other
round), so both see the same load.

The ratio in the last line is ``omega backtest --help`` over ``import typer`` (goal <= 3x); the
other rows are printed above it and carried in the JSON. ``omega learn search`` reads the
education section's defaults without pydantic when no ``OMEGA_*`` variable and no config file
is given (as on a fresh install); with either it loads pydantic and pydantic-settings too, so
the variables set in the environment of the run are printed. See docs/cli.md.

Run: python bench/cli_startup.py [ROUNDS=7] [--compare SRC]
"""

from __future__ import annotations

import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PY = sys.executable
OURS_SRC = str(Path(__file__).resolve().parents[1] / "src")
MINIMAL_TYPER = """
from typing import Annotated
import typer
app = typer.Typer()
@app.command()
def a(x: Annotated[str, typer.Option()] = "") -> None: ...
@app.command()
def b() -> None: ...
app()
"""
URL = re.compile(r"(http://127\.0\.0\.1:\d+)  \(health")
TICK = os.sysconf("SC_CLK_TCK")


# Bytecode of every checkout measured goes here, not into its source tree.
PYCACHE = Path(tempfile.gettempdir()) / "omega-bench-pycache"


def child_env(src: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    if src is not None:
        env["PYTHONPATH"] = src
    return env


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and user+sys CPU seconds of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} exited with {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def up_to_healthy(state: Path, env: dict[str, str]) -> tuple[float, float]:
    """Launch ``omega up`` on a free port: seconds until /health answers 200 with status pass,
    and the CPU seconds the omega process had used by then."""
    env = {
        **env,
        "OMEGA_REDIS__DATA_DIR": str(state / "redis"),
        "OMEGA_API__PORT": "0",
        "OMEGA_SECURITY__DATA_DIR": str(state / "security"),
        "OMEGA_EDUCATION__DB_PATH": str(state / "education.sqlite3"),
        "OMEGA_EXCHANGE__OHLCV_CACHE_PATH": str(state / "ohlcv.sqlite3"),
    }
    start = time.perf_counter()
    proc = subprocess.Popen(
        [PY, "-m", "omegafarm", "up"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env=env, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        url = None
        for line in proc.stdout:
            match = URL.search(line)
            if match:
                url = match.group(1)
                break
        if url is None:
            raise RuntimeError("omega up exited before reporting its URL")
        while True:
            try:
                response = httpx.get(f"{url}/health", timeout=5)
                if response.status_code == 200 and response.json()["status"] == "pass":
                    wall = time.perf_counter() - start
                    fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
                    return wall, (int(fields[11]) + int(fields[12])) / TICK
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        proc.stdout.close()


def medians(samples: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def main() -> None:
    args = sys.argv[1:]
    compare = None
    if "--compare" in args:
        at = args.index("--compare")
        compare = args[at + 1]
        del args[at : at + 2]
    rounds = int(args[0]) if args else 7
    sources = {"ours": OURS_SRC, **({"ref": compare} if compare else {})}
    omega = [PY, "-m", "omegafarm"]
    plain = {
        "import typer": [PY, "-c", "import typer"],
        "minimal typer app a --help": [PY, "-c", MINIMAL_TYPER, "a", "--help"],
    }
    commands = {
        "omega --help": [*omega, "--help"],
        "omega backtest --help": [*omega, "backtest", "--help"],
        "omega learn search sharpe": [*omega, "learn", "search", "sharpe"],
    }
    jobs = [(name, argv, child_env(None)) for name, argv in plain.items()]
    for label, src in sources.items():
        suffix = "" if label == "ours" else f" [{label}]"
        jobs += [(name + suffix, argv, child_env(src)) for name, argv in commands.items()]
    load_before = os.getloadavg()
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in jobs}
    for _name, argv, env in jobs:
        run_once(argv, env)  # warm-up: bytecode cache, saved search index
    # Interleaved, so every row sees the same moments of load, and in reversed order every
    # other round, so no row always follows the same one (for `omega up` it mattered: the run
    # after one shares the cores with its shutdown, and the checkout that always went first
    # measured ~0.8 s slower to a healthy /health at load 10).
    for k in range(rounds):
        for name, argv, env in jobs if k % 2 == 0 else jobs[::-1]:
            samples[name].append(run_once(argv, env))
    ups: dict[str, list[tuple[float, float]]] = {label: [] for label in sources}
    with tempfile.TemporaryDirectory(prefix="omega-bench-up-") as tmp:
        for k in range(max(2, rounds // 2)):
            labels = list(sources) if k % 2 == 0 else list(sources)[::-1]
            for label in labels:
                state = Path(tmp) / f"{label}{k}"
                ups[label].append(up_to_healthy(state, child_env(sources[label])))
    load_after = os.getloadavg()
    rows = {name: medians(values) for name, values in samples.items()}
    base_wall = rows["import typer"][0]
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
          f"({os.cpu_count()} CPUs); medians of {rounds} runs")  # fmt: skip
    omega_env = sorted(k for k in os.environ if k.upper().startswith("OMEGA_"))
    if omega_env:
        print(f"OMEGA_* variables set (learn search reads the layered settings): {omega_env}")
    for name, (wall, cpu) in rows.items():
        print(f"{name:<34} {wall:6.3f} s wall {cpu:6.3f} s cpu  ({wall / base_wall:.1f}x typer)")
    up_rows = {label: medians(values) for label, values in ups.items()}
    for label, (wall, cpu) in up_rows.items():
        suffix = "" if label == "ours" else f" [{label}]"
        print(f"{'omega up -> healthy /health' + suffix:<34} {wall:6.3f} s wall {cpu:6.3f} s cpu"
              "  (goal <= 3 s)")  # fmt: skip
    ours, base = rows["omega backtest --help"][0], base_wall
    result: dict[str, object] = {
        "bench": "cli_startup",
        "ours": round(ours, 3),
        "baseline": round(base, 3),
        "baseline_name": 'python -c "import typer" (median wall, fresh interpreter)',
        "unit": "s",
        "ratio": round(ours / base, 2),
        "better": "lower",
        "load_avg_1m": [round(load_before[0], 2), round(load_after[0], 2)],
        "omega_help_s": round(rows["omega --help"][0], 3),
        "minimal_typer_subcommand_help_s": round(rows["minimal typer app a --help"][0], 3),
        "learn_search_s": round(rows["omega learn search sharpe"][0], 3),
        "learn_search_cpu_s": round(rows["omega learn search sharpe"][1], 3),
        "backtest_help_cpu_s": round(rows["omega backtest --help"][1], 3),
        "import_typer_cpu_s": round(rows["import typer"][1], 3),
        "up_to_healthy_s": round(up_rows["ours"][0], 3),
        "up_to_healthy_cpu_s": round(up_rows["ours"][1], 3),
    }
    if compare:
        result["ref_src"] = compare
        result["ref_learn_search_s"] = round(rows["omega learn search sharpe [ref]"][0], 3)
        result["ref_learn_search_cpu_s"] = round(rows["omega learn search sharpe [ref]"][1], 3)
        result["ref_up_to_healthy_s"] = round(up_rows["ref"][0], 3)
        result["ref_up_to_healthy_cpu_s"] = round(up_rows["ref"][1], 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""CLI start-up: wall time of ``omega --help``, ``omega backtest --help`` and
``omega learn search sharpe`` against ``python -c "import typer"`` (the floor of any typer CLI),
and ``omega up`` from launch to a healthy ``/health``.

Each command runs ROUNDS times in a fresh interpreter; the median wall time counts (this machine
is shared, so the median of several runs is steadier than one). The ratio in the last line is
``omega backtest --help`` over ``import typer`` (goal <= 3x); the other rows are printed above it
and also carried in the JSON.

A second floor is printed too: a two-command typer app answering ``cmd --help`` for a command
with one option (typer 0.29 imports pydantic to build any command's parameters, ~0.3 s here),
the least any typer sub-command help can cost.

Run: python bench/cli_startup.py [ROUNDS=7]
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


def wall_s(argv: list[str], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def up_to_healthy_s(state: Path) -> float:
    """Launch ``omega up`` on a free port; seconds until /health answers 200 with status pass."""
    env = {
        **os.environ,
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
                    return time.perf_counter() - start
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


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    omega = [PY, "-m", "omegafarm"]
    rows = {
        "import typer": wall_s([PY, "-c", "import typer"], rounds),
        "minimal typer app a --help": wall_s([PY, "-c", MINIMAL_TYPER, "a", "--help"], rounds),
        "omega --help": wall_s([*omega, "--help"], rounds),
        "omega backtest --help": wall_s([*omega, "backtest", "--help"], rounds),
        "omega learn search sharpe": wall_s([*omega, "learn", "search", "sharpe"], rounds),
    }
    with tempfile.TemporaryDirectory(prefix="omega-bench-up-") as tmp:
        ups = [up_to_healthy_s(Path(tmp) / f"run{k}") for k in range(max(1, rounds // 3))]
    up_s = statistics.median(ups)
    for name, seconds in rows.items():
        print(f"{name:<28} {seconds:6.3f} s  ({seconds / rows['import typer']:.1f}x import typer)")
    print(f"{'omega up -> healthy /health':<28} {up_s:6.3f} s  (goal <= 3 s)")
    ours, base = rows["omega backtest --help"], rows["import typer"]
    print(
        json.dumps(
            {
                "bench": "cli_startup",
                "ours": round(ours, 3),
                "baseline": round(base, 3),
                "baseline_name": 'python -c "import typer" (median wall, fresh interpreter)',
                "unit": "s",
                "ratio": round(ours / base, 2),
                "better": "lower",
                "omega_help_s": round(rows["omega --help"], 3),
                "minimal_typer_subcommand_help_s": round(rows["minimal typer app a --help"], 3),
                "learn_search_s": round(rows["omega learn search sharpe"], 3),
                "up_to_healthy_s": round(up_s, 3),
            }
        )
    )


if __name__ == "__main__":
    main()

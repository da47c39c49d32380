"""What the ``omega`` commands print: valid TOML, whole ids, logs only on stderr, an honest
download count, a verdict sentence, and an ``omega up`` banner a new user can act on (the
dashboard URL and the command that makes the first admin); ``exchange limits`` beside a running
farm reads the farm's embedded Redis."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from omegafarm.cli import app
from omegafarm.cli.analyze import verdict
from omegafarm.cosmic.evaluation import EvaluationRow
from tests.cli.test_up import valkey_pids

LOG_LINE = re.compile(r"\[(debug|info|warning|error)\s*\]|\"level\":")


def _omega(*args: str, env: dict[str, str], columns: int = 80) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "omegafarm", *args],
        capture_output=True, text=True, timeout=120, env={**env, "COLUMNS": str(columns)},
        check=False,
    )  # fmt: skip


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    state = tmp_path
    values = {
        **os.environ,
        "OMEGA_REDIS__DATA_DIR": str(state / "redis"),
        "OMEGA_API__PORT": "0",
        "OMEGA_SECURITY__DATA_DIR": str(state / "security"),
        "OMEGA_EDUCATION__DB_PATH": str(state / "education.sqlite3"),
        "OMEGA_EXCHANGE__OHLCV_CACHE_PATH": str(state / "ohlcv.sqlite3"),
    }
    yield values
    for pid in valkey_pids(state / "redis"):  # never leave a server behind
        os.kill(pid, signal.SIGKILL)


def test_config_show_prints_toml_that_reads_back_as_the_same_settings(
    cli: CliRunner, tmp_path: Path
) -> None:
    shown = cli.invoke(app, ["config", "show"])
    assert shown.exit_code == 0, shown.output
    parsed = tomllib.loads(shown.stdout)
    assert {"log", "redis", "api", "exchange", "bots"} <= set(parsed)
    assert parsed["api"]["port"] == 8000 and parsed["exchange"]["exchange_id"] == "paper"
    assert isinstance(parsed["exchange"]["paper"], dict)  # nested section, as a sub-table
    assert "[log]" in shown.stdout.splitlines()
    saved = tmp_path / "omega.toml"
    saved.write_text(shown.stdout)
    again = cli.invoke(app, ["--config", str(saved), "config", "show"])
    assert again.exit_code == 0 and again.stdout == shown.stdout


def test_learn_search_keeps_ids_whole_in_a_narrow_terminal(env: dict[str, str]) -> None:
    done = _omega("learn", "search", "fibonacci retracement", env=env, columns=60)
    assert done.returncode == 0, done.stderr
    assert "fibonacci-levels-of-the-current-swing" in done.stdout  # 37 characters, one piece
    assert not LOG_LINE.search(done.stdout)


def test_a_paper_download_counts_candles_and_says_what_it_wrote(
    env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "btc.csv"
    done = _omega(
        "data", "download", "--exchange", "paper", "--symbol", "BTC/USDT", "--since",
        "2020-01-01", "--timeframe", "1h", "--out", str(out), env=env, columns=200,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = len(out.read_text().strip().splitlines()) - 1  # minus the header
    said = re.search(r"BTC/USDT 1h: (\d+) candles from .* written to", done.stdout)
    assert said and int(said.group(1)) == written
    bar = re.search(r"(\d+)/(\d+) candles", done.stderr)
    assert bar and int(bar.group(1)) == written  # the progress counts candles received
    assert f"the exchange had {written} of them" in done.stdout  # the range holds more bars
    assert not LOG_LINE.search(done.stdout) and LOG_LINE.search(done.stderr)


def _row(kind: str, significant: bool) -> EvaluationRow:
    return EvaluationRow("f", kind, 10, 0.5, 0.4, 0.6, 0.5, 1.0, -1.0, 3.0, 0.0, 0.5, 0.9,
                         significant)  # fmt: skip


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            [_row("gartley", False), _row("fib", False)], "none of the 2 signals", id="none"
        ),
        pytest.param([_row("gartley", True), _row("fib", False)], "1 of 2 signals beat", id="one"),
        pytest.param([], "no signal fired", id="empty"),
    ],
)
def test_analyze_evaluate_ends_with_a_verdict_sentence(
    rows: list[EvaluationRow], expected: str
) -> None:
    sentence = verdict(rows)
    assert sentence.startswith("Verdict: ") and expected in sentence and sentence.endswith(".")


@pytest.mark.slow
def test_up_prints_the_dashboard_and_the_first_admin_command_and_limits_sees_its_redis(
    env: dict[str, str], tmp_path: Path
) -> None:
    stderr = (tmp_path / "up.err").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "omegafarm", "up"],
        stdout=subprocess.PIPE, stderr=stderr, text=True, env=env,
    )  # fmt: skip
    banner: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 90  # a loaded machine imports slowly
        while not banner or "Press Ctrl-C" not in banner[-1]:
            line = proc.stdout.readline()  # the banner is one write: its lines come together
            if not line or time.monotonic() > deadline:
                break
            banner.append(line)
        text = "".join(banner)
        limits = _omega("exchange", "limits", env=env, columns=200)
        bots = _omega("bots", "list", env=env, columns=60)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
        stderr.close()
        if proc.stdout is not None:
            proc.stdout.close()
    assert re.search(r"Dashboard: http://127\.0\.0\.1:\d+/dashboard/", text), text
    assert "omega users add admin --role admin" in text
    assert "bots in the farm" in text and "0 bots on this worker" not in text
    assert not LOG_LINE.search(text)  # logs go to stderr
    assert LOG_LINE.search((tmp_path / "up.err").read_text())
    assert limits.returncode == 0, limits.stderr
    assert "usage read from the farm's embedded Redis" in limits.stdout
    assert bots.returncode == 0, bots.stderr
    assert "4 bots" in bots.stdout
    for bot_id in ("sma_btc", "sma_eth", "fib_sol", "cycle_btc"):  # whole, in 60 columns
        assert re.search(rf"[│┃] {bot_id} +[│┃]", bots.stdout), bots.stdout

"""``omega up`` in a real subprocess: healthy, clean exit on SIGINT, no orphan server."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow
URL = re.compile(r"(http://127\.0\.0\.1:\d+)  \(health")


def valkey_pids(data_dir: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"valkey-server" in cmd and str(data_dir).encode() in cmd:
            try:
                status = (proc / "stat").read_text().split()[2]
            except OSError:
                continue
            if status != "Z":
                pids.append(int(proc.name))
    return pids


START_TIMEOUT_S = 60  # a generous bound: the machine may be loaded; the wait ends at the event


class Up:
    """``omega up`` with its output read by a thread, so every wait has a deadline that holds:
    a blocking ``readline()`` in the test would wait past any deadline for a silent process."""

    def __init__(self, data_dir: Path) -> None:
        state = data_dir.parent
        env = {
            **os.environ,
            "OMEGA_REDIS__DATA_DIR": str(data_dir),
            "OMEGA_API__PORT": "0",
            "OMEGA_SECURITY__DATA_DIR": str(state / "security"),
            "OMEGA_EDUCATION__DB_PATH": str(state / "education.sqlite3"),
            "OMEGA_EXCHANGE__OHLCV_CACHE_PATH": str(state / "ohlcv.sqlite3"),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "omegafarm", "up"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        )
        self.output: list[str] = []
        self._url: str | None = None
        self._url_seen = threading.Event()  # set when the URL is printed or the output ends
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = self._wait_for_url(timeout_s=START_TIMEOUT_S)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            match = URL.search(line)
            if match and self._url is None:
                self._url = match.group(1)
                self._url_seen.set()
        self._url_seen.set()

    def _wait_for_url(self, timeout_s: float) -> str:
        self._url_seen.wait(timeout=timeout_s)
        if self._url is not None:
            return self._url
        self.proc.kill()
        self.finish()
        raise AssertionError(
            f"omega up did not report its URL within {timeout_s} s:\n" + "".join(self.output)
        )

    def finish(self, timeout_s: float = 15) -> int:
        code = self.proc.wait(timeout=timeout_s)
        self._reader.join(timeout=timeout_s)  # the pipe closes with the process: output is whole
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return code


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "redis"
    yield path
    for pid in valkey_pids(path):  # never leave a server behind, even when a test fails
        os.kill(pid, signal.SIGKILL)


def test_up_is_healthy_and_stops_cleanly_on_sigint(data_dir: Path) -> None:
    up = Up(data_dir)
    response = httpx.get(f"{up.url}/health", timeout=5)
    assert response.status_code == 200
    assert response.json()["status"] == "pass"
    assert len(valkey_pids(data_dir)) == 1

    up.proc.send_signal(signal.SIGINT)
    assert up.finish() == 0
    assert "omega stopped" in "".join(up.output)
    assert valkey_pids(data_dir) == []


def test_after_kill_9_the_next_up_starts_cleanly_with_one_server(data_dir: Path) -> None:
    first = Up(data_dir)
    first.proc.kill()
    first.finish()

    second = Up(data_dir)
    try:
        assert httpx.get(f"{second.url}/readyz", timeout=5).status_code == 200
        assert len(valkey_pids(data_dir)) == 1
    finally:
        second.proc.send_signal(signal.SIGINT)
        assert second.finish() == 0
    assert valkey_pids(data_dir) == []


def test_orphan_server_of_a_killed_run_is_stopped_at_start(data_dir: Path) -> None:
    # An orphan that outlived its parent (e.g. started by an older version): a server on our
    # data dir whose supervisor is gone. Start one by hand from the config an earlier run wrote
    # (the embedded server's own start, as in `omega up`, without a whole farm around it).
    from omegafarm.store.embedded import EmbeddedRedis, server_binary

    async def an_earlier_run() -> None:
        server = EmbeddedRedis(data_dir)
        await server.start()
        await server.stop()

    asyncio.run(an_earlier_run())

    orphan = subprocess.Popen(
        [str(server_binary()), str(data_dir / "valkey.conf")], start_new_session=True
    )
    try:
        deadline = time.monotonic() + 5
        while not (data_dir / "valkey.sock").exists() and time.monotonic() < deadline:
            time.sleep(0.02)  # wait-ok: polling for a file another process creates
        second = Up(data_dir)
        assert orphan.wait(timeout=5) is not None  # the orphan was stopped
        assert len(valkey_pids(data_dir)) == 1
        second.proc.send_signal(signal.SIGINT)
        assert second.finish() == 0
    finally:
        if orphan.poll() is None:
            orphan.kill()


def test_bad_configuration_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    config = tmp_path / "omega.toml"
    config.write_text("[api]\nport = 'x'\n")
    result = subprocess.run(
        [sys.executable, "-m", "omegafarm", "--config", str(config), "up"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "api.port" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout

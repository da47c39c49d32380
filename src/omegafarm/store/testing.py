"""Real high-availability Valkey topologies on loopback, from the bundled ``valkey-server``.

For tests, benchmarks and trying the farm on Sentinel or Cluster on one machine (public, like
:mod:`omegafarm.exchange.testing`):

* :class:`ValkeyCluster`: N masters (and R replicas each) on loopback ports, joined with
  ``valkey-cli --cluster create ... --cluster-replicas R --cluster-yes``;
* :class:`SentinelGroup`: 1 master + 1 replica + 3 sentinels (quorum 2, a master is "down"
  after 1 s without answers).

Every server runs in the foreground as our child (SIGKILL-able: ``kill(i)``), keeps its files in
a temporary directory and is killed by :meth:`stop`. Waits poll a condition with a deadline.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from redis.crc import key_slot as _key_slot

from omegafarm.store.embedded import server_binary

SERVER = server_binary()
CLI = SERVER.parent / "valkey-cli"
HOST = "127.0.0.1"


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def free_ports(count: int, *, with_bus: bool = False) -> list[int]:
    """``count`` free loopback ports (and their cluster-bus ports, port + 10000, if asked)."""
    out: list[int] = []
    while len(out) < count:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            port = int(s.getsockname()[1])
        if port in out or (with_bus and (port > 55000 or not _port_free(port + 10000))):
            continue
        out.append(port)
    return out


def cli(port: int, *args: str, timeout_s: float = 10.0) -> str:
    """``valkey-cli -p PORT args...``: its output ('' if the server does not answer)."""
    try:
        done = subprocess.run(  # noqa: S603  # our own binary, fixed arguments
            [str(CLI), "-h", HOST, "-p", str(port), *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def key_slot(key: str) -> int:
    """The cluster slot of ``key`` (CRC16 of its hash tag, or of the whole key, mod 16384)."""
    return int(_key_slot(key.encode()))


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``check`` until true; AssertionError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.05)  # wait-ok: the poll interval of a condition check with a deadline


class ValkeyServers:
    """Plain valkey-server processes on loopback ports (the base of the topologies)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.confs: dict[int, tuple[Path, tuple[str, ...]]] = {}

    def spawn(self, port: int, lines: list[str], *extra: str) -> None:
        """Start a server on ``port`` with extra config ``lines`` (and command-line ``extra``)."""
        folder = self.root / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        conf = folder / "valkey.conf"
        if not conf.exists():  # a restart keeps the config the server rewrote (sentinel state)
            base = [f"port {port}", f"bind {HOST}", "protected-mode no", f"dir {folder}",
                    "daemonize no", "logfile server.log", 'save ""']  # fmt: skip
            conf.write_text("\n".join(base + lines) + "\n")
        self.confs[port] = (conf, extra)
        self.procs[port] = subprocess.Popen(  # noqa: S603  # our own binary, our config file
            [str(SERVER), str(conf), *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_until(lambda: cli(port, "ping") == "PONG", 15, f"valkey on port {port}")

    def kill(self, port: int) -> None:
        """SIGKILL the server on ``port`` and reap it."""
        proc = self.procs.pop(port)
        proc.kill()
        proc.wait(timeout=10)

    def restart(self, port: int) -> None:
        """Start the server on ``port`` again, with the files it left."""
        _conf, extra = self.confs[port]
        self.spawn(port, [], *extra)

    def stop(self) -> None:
        """SIGKILL every server still running."""
        for port in list(self.procs):
            with contextlib.suppress(Exception):
                self.kill(port)


class ValkeyCluster(ValkeyServers):
    """A real Valkey Cluster of ``masters`` primaries on loopback, each with ``replicas``
    replicas (with one, a SIGKILLed master's replica is promoted after ``cluster-node-timeout``
    plus the election; the old master, restarted on its files, rejoins as a replica).

    ``node_timeout_ms`` is ``cluster-node-timeout``: 2 s by default, so a killed node is
    noticed quickly. A node also drops and reopens its bus link to a peer whose PONG is later
    than half of it, and what it forwards over that link meanwhile (a PUBLISH) is lost: a
    cluster that kills nothing takes a long one, so a busy machine does not reset its links.
    """

    def __init__(
        self, root: Path, masters: int = 3, replicas: int = 0, *, node_timeout_ms: int = 2000
    ) -> None:
        super().__init__(root)
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.ports = free_ports(masters * (1 + replicas), with_bus=True)

    def start(self) -> ValkeyCluster:
        for port in self.ports:
            self.spawn(port, ["cluster-enabled yes", "cluster-config-file nodes.conf",
                               f"cluster-node-timeout {self.node_timeout_ms}", "appendonly yes",
                               "appendfsync everysec"])  # fmt: skip
        nodes = [f"{HOST}:{p}" for p in self.ports]
        done = subprocess.run(  # noqa: S603  # our own binary, fixed arguments
            [str(CLI), "--cluster", "create", *nodes, "--cluster-replicas", str(self.replicas),
             "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"valkey-cli --cluster create failed: {done.stdout}{done.stderr}")
        self.wait_ok()
        return self

    def wait_ok(self, timeout_s: float = 30) -> None:
        """Every running node reports ``cluster_state:ok``, knows every node, and (with
        replicas) every master has a replica whose link to it is up."""

        def ok() -> bool:
            for port in self.procs:
                info = cli(port, "cluster", "info")
                if "cluster_state:ok" not in info:
                    return False
                if f"cluster_known_nodes:{len(self.ports)}" not in info:
                    return False
            if self.replicas:
                for port in self.procs:
                    repl = cli(port, "info", "replication")
                    if "role:slave" in repl and "master_link_status:up" not in repl:
                        return False
            return True

        wait_until(ok, timeout_s, "cluster_state:ok on every node")

    @property
    def url(self) -> str:
        """A ``redis+cluster://`` URL naming every node."""
        return "redis+cluster://" + ",".join(f"{HOST}:{p}" for p in self.ports)

    def _nodes(self) -> list[list[str]]:
        """``CLUSTER NODES`` as seen by a running node, one split line per node."""
        for port in self.procs:
            reply = cli(port, "cluster", "nodes")
            if reply:
                return [line.split() for line in reply.splitlines()]
        raise AssertionError("no cluster node answers")

    def masters(self) -> list[int]:
        """Ports of the masters that serve slots and are not failed, as a running node sees."""
        out = []
        for fields in self._nodes():
            if "master" in fields[2] and "fail" not in fields[2] and len(fields) > 8:
                out.append(int(fields[1].split("@")[0].rsplit(":", 1)[1]))
        return sorted(out)

    def port_of_slot(self, slot: int) -> int:
        """The port of the master serving ``slot``."""
        for fields in self._nodes():
            if "master" not in fields[2] or "fail" in fields[2]:
                continue
            for item in fields[8:]:
                lo, _, hi = item.partition("-")
                if lo.isdigit() and int(lo) <= slot <= int(hi or lo):
                    return int(fields[1].split("@")[0].rsplit(":", 1)[1])
        raise AssertionError(f"no master serves slot {slot}")


class SentinelGroup(ValkeyServers):
    """1 master + 1 replica + 3 sentinels (quorum 2) on loopback, master group ``mymaster``."""

    MASTER_NAME = "mymaster"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.master_port, self.replica_port, *self.sentinel_ports = free_ports(5)

    def start(self) -> SentinelGroup:
        data = ["appendonly yes", "appendfsync everysec"]
        self.spawn(self.master_port, data)
        self.spawn(self.replica_port, [*data, f"replicaof {HOST} {self.master_port}"])
        wait_until(
            lambda: "master_link_status:up" in cli(self.replica_port, "info", "replication"),
            15,
            "the replica to sync",
        )
        for port in self.sentinel_ports:
            self.spawn(port, [
                f"sentinel monitor {self.MASTER_NAME} {HOST} {self.master_port} 2",
                f"sentinel down-after-milliseconds {self.MASTER_NAME} 1000",
                f"sentinel failover-timeout {self.MASTER_NAME} 5000",
                f"sentinel parallel-syncs {self.MASTER_NAME} 1",
            ], "--sentinel")  # fmt: skip

        def known() -> bool:
            for port in self.sentinel_ports:
                info = cli(port, "sentinel", "master", self.MASTER_NAME).splitlines()
                fields = dict(zip(info[::2], info[1::2], strict=False))
                if fields.get("num-slaves") != "1" or fields.get("num-other-sentinels") != "2":
                    return False
            return True

        wait_until(known, 30, "the sentinels to see the replica and each other")
        return self

    def master(self) -> int:
        """The port the sentinels report as master now."""
        reply = cli(self.sentinel_ports[0], "sentinel", "get-master-addr-by-name",
                    self.MASTER_NAME).splitlines()  # fmt: skip
        return int(reply[1])

    @property
    def url(self) -> str:
        """A ``redis+sentinel://`` URL naming every sentinel and the master group."""
        hosts = ",".join(f"{HOST}:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{self.MASTER_NAME}"

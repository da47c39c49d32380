"""The audit log: an append-only, hash-chained record of every security-relevant action.

Each entry is a JSON object ``{seq, ts_ms, action, actor, outcome, details, prev, hash}``
where ``hash = sha256(canonical JSON of every other field)`` and ``prev`` is the hash of the
entry before (64 zeros for the first). Editing, deleting, inserting or reordering any line
breaks the chain at that line, which :func:`verify_entries` names.

The JSONL file is the authority: appends take an exclusive ``flock`` so that the API and the
CLI (separate processes) extend one chain. Each entry is mirrored to a Redis stream, a second
copy in another trust domain: an attacker who rewrites the whole file (recomputing every hash)
or cuts its tail still disagrees with the stream, and :meth:`AuditLog.verify` compares both.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from omegafarm.core.errors import SecurityError, StoreError
from omegafarm.store import keys

if TYPE_CHECKING:  # a type only: `omega audit verify` must not import redis
    from omegafarm.store import RedisClient

GENESIS = "0" * 64
Scalar = str | int | float | bool | None
_log = structlog.get_logger("omegafarm", service="security")


def canonical(obj: Mapping[str, Any]) -> bytes:
    """The canonical JSON bytes of ``obj`` (sorted keys, no spaces, UTF-8)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: Mapping[str, Any]) -> str:
    """sha256 over the canonical JSON of every field but ``hash`` (``prev`` included)."""
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of a chain check: ``first_bad`` is the 1-based line of the first bad entry."""

    ok: bool
    entries: int
    first_bad: int | None = None
    reason: str = ""

    @property
    def message(self) -> str:
        """One line for a human."""
        if self.ok:
            return f"audit log intact: {self.entries} entries, chain verified"
        return f"audit log TAMPERED at entry {self.first_bad}: {self.reason}"


def verify_entries(entries: list[Mapping[str, Any] | None]) -> VerifyResult:
    """Check seq, prev and hash of every entry in order (None stands for an unreadable line)."""
    prev = GENESIS
    for line, entry in enumerate(entries, start=1):
        if entry is None:
            return VerifyResult(False, len(entries), line, "not a JSON object")
        if entry.get("seq") != line:
            return VerifyResult(
                False, len(entries), line, f"sequence {entry.get('seq')!r}, expected {line}"
            )
        if entry.get("prev") != prev:
            return VerifyResult(
                False,
                len(entries),
                line,
                "previous-hash link broken (entry deleted, inserted or moved before it)",
            )
        if entry.get("hash") != entry_hash(entry):
            return VerifyResult(False, len(entries), line, "content does not match its hash")
        prev = str(entry["hash"])
    return VerifyResult(True, len(entries))


def read_file(path: Path) -> list[Mapping[str, Any] | None]:
    """The entries of an audit file (None for a line that is not a JSON object)."""
    if not path.exists():
        return []
    out: list[Mapping[str, Any] | None] = []
    with path.open("rb") as f:
        for raw in f:
            try:
                value = json.loads(raw)
            except ValueError:
                value = None
            out.append(value if isinstance(value, dict) else None)
    return out


class AuditLog:
    """Appends chained entries to the file (and the Redis stream mirror) and verifies them."""

    def __init__(
        self,
        path: Path,
        *,
        redis: RedisClient | None = None,
        stream: str = keys.AUDIT_STREAM,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self._redis = redis
        self._stream = stream
        self._clock = clock
        self._lock = asyncio.Lock()
        self.mirror_failures = 0
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)

    async def append(
        self, action: str, *, actor: str, outcome: str = "ok", **details: Scalar
    ) -> dict[str, Any]:
        """Record one action (``outcome``: ok, denied or failed) and return the entry."""
        async with self._lock:
            entry = self._append_to_file(action, actor, outcome, details)
            if self._redis is not None:
                try:
                    await self._redis.stream_add(self._stream, entry)
                except StoreError as exc:  # the file is the authority; count the gap
                    self.mirror_failures += 1
                    _log.warning("audit_mirror_failed", error=str(exc), seq=entry["seq"])
        return entry

    def _append_to_file(
        self, action: str, actor: str, outcome: str, details: Mapping[str, Scalar]
    ) -> dict[str, Any]:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "r+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes
            last = _last_entry(f)
            entry: dict[str, Any] = {
                "seq": (int(last["seq"]) + 1) if last else 1,
                "ts_ms": int(self._clock() * 1000),
                "action": action,
                "actor": actor,
                "outcome": outcome,
                "details": dict(details),
                "prev": str(last["hash"]) if last else GENESIS,
            }
            entry["hash"] = entry_hash(entry)
            f.write(canonical(entry) + b"\n")
            f.flush()
            os.fsync(f.fileno())
        return entry

    def verify_file(self) -> VerifyResult:
        """Check the file's chain."""
        return verify_entries(read_file(self.path))

    async def stream_entries(self) -> list[Mapping[str, Any] | None]:
        """The mirror's entries, oldest first (empty without Redis)."""
        if self._redis is None:
            return []
        entries = await self._redis.stream_range(self._stream)
        return [m.data if isinstance(m.data, dict) else None for m in entries]

    async def verify(self) -> VerifyResult:
        """Check the file's chain, then that every mirrored entry equals the file's entry."""
        file_entries = read_file(self.path)
        result = verify_entries(file_entries)
        if not result.ok:
            return result
        by_seq = {int(e["seq"]): e for e in file_entries if e is not None}
        for mirrored in await self.stream_entries():
            if mirrored is None:
                continue
            seq = int(mirrored.get("seq", 0))
            if seq not in by_seq:
                return VerifyResult(
                    False,
                    len(file_entries),
                    seq,
                    "entry is in the Redis mirror but missing from the file (the file was cut)",
                )
            if by_seq[seq].get("hash") != mirrored.get("hash"):
                return VerifyResult(
                    False,
                    len(file_entries),
                    seq,
                    "file entry differs from the Redis mirror (the file was rewritten)",
                )
        return result


def _last_entry(f: Any) -> Mapping[str, Any] | None:
    """The last line of an open binary file, parsed, reading backwards in blocks."""
    f.seek(0, os.SEEK_END)
    end = f.tell()
    if end == 0:
        return None
    block = 4096
    data = b""
    pos = end
    while pos > 0:
        step = min(block, pos)
        pos -= step
        f.seek(pos)
        data = f.read(step) + data
        if data.rstrip(b"\n").count(b"\n") >= 1:
            break
    line = data.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    try:
        value = json.loads(line)
    except ValueError:
        value = None
    if not isinstance(value, dict) or "seq" not in value or "hash" not in value:
        raise SecurityError("the audit file's last line is unreadable: run `omega audit verify`")
    return value

"""Redis streams on the store: append, consumer groups, read, acknowledge, reclaim, history.

Stream names are relative (prefixed with the farm namespace by :meth:`.keys.Keys.stream`);
entries carry one codec-encoded value in field ``d``. Every call goes through the store's
translating call path (:class:`._calls.CallPath`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from omegafarm.core.errors import StoreError, StoreUnavailableError
from omegafarm.store import codec
from omegafarm.store._calls import CallPath


@dataclass(frozen=True)
class StreamMessage:
    """One stream entry: its id and the decoded value."""

    id: str
    data: Any


class StreamCommands(CallPath):
    """The stream commands of the client."""

    async def stream_add(self, stream: str, message: Any, *, maxlen: int | None = None) -> str:
        """Append to a stream; returns the entry id."""
        entry = await self._call(
            "xadd",
            self._raw.xadd(
                self.keys.stream(stream),
                {"d": codec.encode(message)},
                maxlen=maxlen,
                approximate=True,
            ),
        )
        return entry.decode() if isinstance(entry, bytes) else str(entry)

    async def stream_group(self, stream: str, group: str, *, start_id: str = "0") -> None:
        """Create a consumer group (and the stream) if it does not exist yet."""
        try:
            await self._call(
                "xgroup_create",
                self._raw.xgroup_create(
                    self.keys.stream(stream), group, id=start_id, mkstream=True
                ),
            )
        except StoreUnavailableError:
            raise
        except StoreError as exc:
            if not isinstance(exc.__cause__, ResponseError) or "BUSYGROUP" not in str(exc):
                raise StoreError(f"cannot create group {group!r} on {stream!r}: {exc}") from exc

    async def stream_read(
        self,
        stream: str,
        group: str,
        consumer: str,
        *,
        count: int = 100,
        block_ms: int | None = 1000,
    ) -> list[StreamMessage]:
        """New entries for ``consumer`` in ``group`` (pending until acknowledged)."""
        reply: Any = await self._call(
            "xreadgroup",
            self._raw.xreadgroup(
                group, consumer, {self.keys.stream(stream): ">"}, count=count, block=block_ms
            ),
        )
        return [m for _, entries in (reply or []) for m in _entries(entries)]

    async def stream_read_many(
        self, streams: Sequence[str], group: str, consumer: str, *, count: int = 100
    ) -> dict[str, list[StreamMessage]]:
        """New entries of several streams for ``consumer`` in ``group`` (each stream must have
        the group), without blocking: one XREADGROUP for all (one per stream on a cluster,
        where a command's keys share one slot). Returns stream name -> its entries."""
        out: dict[str, list[StreamMessage]] = {s: [] for s in streams}
        if not streams:
            return out
        redis = self._raw
        batches = [[s] for s in streams] if isinstance(redis, RedisCluster) else [list(streams)]
        for batch in batches:
            names = {self.keys.stream(s): s for s in batch}
            reply: Any = await self._call(
                "xreadgroup",
                redis.xreadgroup(group, consumer, dict.fromkeys(names, ">"), count=count),
            )
            for name, entries in reply or []:
                text = name.decode() if isinstance(name, bytes) else str(name)
                out[names[text]] = _entries(entries)
        return out

    async def stream_ack(self, stream: str, group: str, *ids: str) -> int:
        """Acknowledge entries; returns how many were pending."""
        return int(await self._call("xack", self._raw.xack(self.keys.stream(stream), group, *ids)))

    async def stream_reclaim(
        self, stream: str, group: str, consumer: str, *, min_idle_ms: int, count: int = 100
    ) -> list[StreamMessage]:
        """Take over entries another consumer read but did not acknowledge for ``min_idle_ms``."""
        reply: Any = await self._call(
            "xautoclaim",
            self._raw.xautoclaim(
                self.keys.stream(stream), group, consumer, min_idle_ms, "0-0", count=count
            ),
        )
        return _entries(reply[1])

    async def stream_range(
        self, stream: str, *, start: str = "-", end: str = "+", count: int | None = None
    ) -> list[StreamMessage]:
        """Entries of a stream in id order (no consumer group involved), for reading history."""
        reply: Any = await self._call(
            "xrange", self._raw.xrange(self.keys.stream(stream), min=start, max=end, count=count)
        )
        return _entries(reply)

    async def stream_pending(self, stream: str, group: str) -> int:
        """How many entries of ``group`` are read but not acknowledged."""
        info = await self._call("xpending", self._raw.xpending(self.keys.stream(stream), group))
        return int(info["pending"])

    async def stream_backlog(self, stream: str, group: str) -> int:
        """How many entries ``group`` has not finished: read but not acknowledged, plus not
        read yet. What a consumer still owes, e.g. the gateway's commands not yet executed. A
        group not created yet owes every entry (groups start at the first: ``stream_group``);
        no stream owes nothing."""
        key = self.keys.stream(stream)
        try:
            groups: Any = await self._call("xinfo_groups", self._raw.xinfo_groups(key))
        except StoreUnavailableError:
            raise
        except StoreError as exc:
            if isinstance(exc.__cause__, ResponseError) and "no such key" in str(exc).lower():
                return 0
            raise
        for info in groups:
            name = info["name"]
            if (name.decode() if isinstance(name, bytes) else str(name)) != group:
                continue
            # counted, not the group's "lag": after a trim Redis may count trimmed entries
            last = info["last-delivered-id"]
            last = last.decode() if isinstance(last, bytes) else str(last)
            unread = await self.stream_range(stream, start=f"({last}")
            return int(info["pending"]) + len(unread)
        return len(await self.stream_range(stream))


def _entries(entries: list[Any]) -> list[StreamMessage]:
    out = []
    for entry_id, fields in entries:
        if fields is None:  # deleted while pending
            continue
        ident = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        out.append(StreamMessage(ident, codec.decode(fields[b"d"])))
    return out

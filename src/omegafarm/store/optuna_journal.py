"""Optuna's journal storage on the farm's Redis: where ``omega optimize`` studies live.

A study is Optuna's journal (an append-only log of study events) kept in ONE Redis list per
study, ``omega:<farm>:optuna:<study>:journal``: appending a batch of events is one ``RPUSH``
(atomic, and its reply is the new length, so concurrent writers never interleave or leave a
gap), reading from event N on is one ``LRANGE``. A single key works the same on one server, a
Sentinel group's master and a Cluster (no multi-key command, no script), through the client
:mod:`._connect` builds for the farm's ``[redis]`` settings. Every process on any machine that
reaches the farm's Redis and names the same study adds trials to it.

Why not Optuna's own ``JournalRedisBackend``: it takes a plain ``redis://`` URL only (no
Sentinel, no Cluster: its cluster mode appends with two commands and leaves a hole that readers
wait on forever if a writer dies between them), and its snapshots are pickles that every reader
unpickles, so anyone who can write to Redis could run code in every optimizing process. This
backend keeps no snapshot: a reader replays the log (a study of thousands of trials replays in
well under a second).

A study written by Optuna's backend (before this module, on a plain server) is copied into the
list the first time it is opened, so it can be resumed across the upgrade; stop processes of
the older version first, or their later trials stay in the old keys.

Optuna is imported inside the functions: the ``omega`` CLI must start without it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

import redis
from redis.exceptions import RedisError

from omegafarm.core.errors import StoreUnavailableError
from omegafarm.store import _connect
from omegafarm.store.config import RedisSettings
from omegafarm.store.embedded import EmbeddedRedis
from omegafarm.store.keys import Keys

if TYPE_CHECKING:
    from optuna.storages import BaseStorage


class ListJournal:
    """Optuna's ``BaseJournalBackend`` on one Redis list (see the module docstring)."""

    def __init__(self, client: _connect.SyncRedisLike, key: str) -> None:
        self._redis = client
        self._key = key

    def read_logs(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        """Every event from number ``log_number_from`` on (0 is the first)."""
        raw: list[bytes] = self._redis.lrange(self._key, log_number_from, -1)  # type: ignore[assignment]  # sync client
        return [json.loads(item) for item in raw]

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        """Append ``logs`` in order, in one atomic command."""
        if logs:
            self._redis.rpush(self._key, *(json.dumps(log) for log in logs))


# Copies a study written by Optuna's own backend (a counter and one key per event) into the list,
# once, atomically: a second process finds the list and copies nothing. Only plain servers held
# such studies (Optuna's backend never ran on Sentinel or Cluster), so a script may touch them.
_ADOPT_LEGACY = """
if redis.call('exists', KEYS[1]) == 1 then return 0 end
local last = tonumber(redis.call('get', ARGV[1] .. ':log_number') or '-1')
for i = 0, last do
  local event = redis.call('get', ARGV[1] .. ':log:' .. i)
  if event then redis.call('rpush', KEYS[1], event) end
end
return last + 1
"""


def journal_storage(client: _connect.SyncRedisLike, farm: str, study: str) -> BaseStorage:
    """The Optuna storage of ``study`` in ``farm`` on ``client`` (see :func:`study_client`)."""
    import optuna
    from optuna.storages.journal import BaseJournalBackend, JournalStorage

    prefix = Keys(farm).optuna_study(study)
    journal = f"{prefix}:journal"
    try:
        if client.exists(f"{prefix}:log_number") and not client.exists(journal):
            client.eval(_ADOPT_LEGACY, 1, journal, prefix)
        with warnings.catch_warnings():  # the journal storage is marked experimental by Optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            BaseJournalBackend.register(ListJournal)
            return JournalStorage(cast(BaseJournalBackend, ListJournal(client, journal)))
    except (RedisError, OSError) as exc:  # redis-py errors: translated here, the one edge
        raise StoreUnavailableError(f"cannot open study {study!r} on Redis: {exc}") from exc


@contextmanager
def journal_errors() -> Iterator[None]:
    """Turn redis-py errors raised inside Optuna's storage into :class:`StoreUnavailableError`
    (the CLI prints one line instead of a traceback when the server goes away)."""
    try:
        yield
    except (RedisError, OSError) as exc:
        raise StoreUnavailableError(f"the study's Redis failed: {exc}") from exc


@contextmanager
def study_client(settings: RedisSettings) -> Iterator[_connect.SyncRedisLike]:
    """A blocking client of the farm's Redis: the configured one (a server, a Sentinel group or
    a Cluster), or the embedded server's.

    With no ``redis.url`` and no sentinels the embedded server is started (or adopted, when
    ``omega up`` or another process already runs it) on a private event loop in a daemon thread,
    and stopped on exit if this process started it. The client carries a password: never log it.
    """
    common: dict[str, Any] = {
        "socket_timeout": settings.socket_timeout_s,
        "socket_connect_timeout": settings.connect_timeout_s,
        "max_connections": 4,
    }
    if settings.topology != "embedded":
        client = _connect.build_sync(settings, common)
        try:
            yield client
        finally:
            _connect.close_sync(client)
        return
    server = EmbeddedRedis(settings.data_dir, start_timeout_s=settings.start_timeout_s)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="embedded-redis", daemon=True)
    thread.start()
    try:
        address = asyncio.run_coroutine_threadsafe(server.start(), loop).result()
        client = redis.Redis(
            unix_socket_path=str(address.socket_path), password=address.password, **common
        )
        try:
            yield client
        finally:
            _connect.close_sync(client)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()

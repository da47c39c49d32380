"""Optuna's journal storage on the farm's Redis: where ``omega optimize`` studies live.

Optuna ships a Redis journal backend (an append-only log of study events, one key per entry
plus a counter, appended by one Lua script so concurrent writers never interleave). Every
process on any machine that reaches the same Redis and names the same study adds trials to it.
The keys sit under :meth:`Keys.optuna_study`. The backend holds its own synchronous redis-py
connection (Optuna's code, not ours); this module is the one place that builds it, so nothing
outside ``store`` touches Redis.

Optuna is imported inside the functions: the ``omega`` CLI must start without it.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from omegafarm.core.errors import StoreUnavailableError
from omegafarm.store.config import RedisSettings
from omegafarm.store.embedded import EmbeddedRedis
from omegafarm.store.keys import Keys

if TYPE_CHECKING:
    from optuna.storages import BaseStorage


def journal_storage(url: str, farm: str, study: str) -> BaseStorage:
    """The Optuna storage of ``study`` in ``farm`` on the Redis at ``url``."""
    import optuna
    from optuna.storages.journal import JournalRedisBackend, JournalStorage

    prefix = Keys(farm).optuna_study(study)
    with warnings.catch_warnings():  # the backend is marked experimental since Optuna 3.1
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        backend = JournalRedisBackend(url, prefix=prefix)
        try:
            return JournalStorage(backend)
        except Exception as exc:  # redis-py errors: translated here, the one edge
            raise StoreUnavailableError(f"cannot open study {study!r} on Redis: {exc}") from exc


@contextmanager
def journal_errors() -> Iterator[None]:
    """Turn redis-py errors raised inside Optuna's backend into :class:`StoreUnavailableError`
    (the CLI prints one line instead of a traceback when the server goes away)."""
    import redis

    try:
        yield
    except redis.RedisError as exc:
        raise StoreUnavailableError(f"the study's Redis failed: {exc}") from exc


@contextmanager
def redis_url(settings: RedisSettings) -> Iterator[str]:
    """The URL of the farm's Redis: the configured one, or the embedded server's.

    With no ``redis.url`` the embedded server is started (or adopted, when ``omega up`` or
    another process already runs it) on a private event loop in a daemon thread, and stopped
    on exit if this process started it. The URL carries a password: never log it.
    """
    if settings.url is not None:
        yield settings.url.get_secret_value()
        return
    server = EmbeddedRedis(settings.data_dir, start_timeout_s=settings.start_timeout_s)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="embedded-redis", daemon=True)
    thread.start()
    try:
        address = asyncio.run_coroutine_threadsafe(server.start(), loop).result()
        yield address.url()
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()

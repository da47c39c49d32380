"""The store's refinements of :class:`~omegafarm.core.errors.StoreError`, and the one mapping
from redis-py exceptions to them (used by every call path of the store package)::

    StoreError                         any other Redis failure (a bad reply, a script error)
    ├── StoreUnavailableError          (transient) no server answers: connection refused,
    │                                  timeout, the server restarting
    ├── StoreConfigurationError        the farm's settings do not fit the server: a cluster
    │                                  node talked to without cluster mode (MOVED/ASK), keys of
    │                                  one operation in different slots (CROSSSLOT), cluster
    │                                  mode against a standalone server
    └── StoreFailoverError             (transient) the server answers but cannot take writes
                                       right now: a replica (READONLY), a master going down,
                                       slots not covered, no master known to the sentinels

A worker pauses on the transient ones and says which it is; a configuration error is not
retried into silence: it names the setting to change.
"""

from __future__ import annotations

import os

from redis.asyncio.sentinel import MasterNotFoundError
from redis.exceptions import (
    AskError,
    ClusterCrossSlotError,
    ClusterDownError,
    MasterDownError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from omegafarm.core.errors import (
    ConfigError,
    StoreError,
    StoreUnavailableError,
    TransientError,
)


class StoreConfigurationError(StoreError, ConfigError):
    """The Redis settings do not match the server (cluster mode, hash slots)."""


class StoreFailoverError(StoreError, TransientError):
    """The server cannot take writes right now (a failover or a resharding is in progress)."""


_REDIS_PY = f"{os.sep}redis{os.sep}"


def connection_torn_down(exc: BaseException) -> bool:
    """Whether ``exc`` is redis-py's asyncio connection failing on a socket that was closed
    under it (an ``AttributeError``/``TypeError`` such as ``'NoneType' object has no attribute
    'writelines'``, raised inside redis-py: redis/redis-py#4287; seen on a cluster failover):
    a lost connection, not a bug of ours."""
    if not isinstance(exc, AttributeError | TypeError):
        return False
    tb = exc.__traceback__
    while tb is not None:
        if _REDIS_PY in tb.tb_frame.f_code.co_filename:
            return True
        tb = tb.tb_next
    return False


def translate(exc: BaseException, operation: str) -> StoreError:
    """The store error for a redis-py (or socket) exception raised during ``operation``."""
    if isinstance(exc, StoreError):
        return exc
    if connection_torn_down(exc):
        return StoreUnavailableError(
            f"redis connection lost during {operation}: {type(exc).__name__}: {exc}"
        )
    text = str(exc)
    crossslot = text.startswith("CROSSSLOT") or "must map to the same key slot" in text
    if isinstance(exc, ClusterCrossSlotError) or crossslot:  # from the server or redis-py
        return StoreConfigurationError(
            f"redis {operation}: keys of one operation are in different cluster slots"
            f" (CROSSSLOT: {text}); keys used together need one hash tag, e.g. 'a:{{bot1}}'"
        )
    if isinstance(exc, AskError):  # MovedError included: a plain client on a cluster node
        return StoreConfigurationError(
            f"redis {operation}: the server is a cluster node (MOVED/ASK to {text}); set"
            " [redis] cluster = true or use a redis+cluster:// URL"
        )
    if isinstance(exc, RedisClusterException) and not isinstance(exc, SlotNotCoveredError):
        lowered = text.lower()
        if "cluster mode is not enabled" in lowered or "cluster support disabled" in lowered:
            return StoreConfigurationError(
                f"redis {operation}: [redis] cluster = true but the server is not a cluster"
                f" node ({text}); drop the setting or point the URL at a cluster"
            )
    if isinstance(exc, ReadOnlyError):
        return StoreFailoverError(
            f"redis {operation}: the server is a read-only replica (READONLY); a failover is"
            " in progress, or the URL names a replica (use redis+sentinel:// to follow the"
            " master)"
        )
    if isinstance(exc, MasterNotFoundError):
        return StoreFailoverError(
            f"redis {operation}: no sentinel reports a reachable master ({text}); a failover"
            " is in progress, the sentinels are down, or master_name is wrong"
        )
    if isinstance(exc, MasterDownError | ClusterDownError | TryAgainError | SlotNotCoveredError):
        return StoreFailoverError(f"redis {operation}: cluster failover in progress ({text})")
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError | TimeoutError):
        return StoreUnavailableError(f"redis unreachable during {operation}: {exc}")
    if text.startswith("ERR This instance has cluster support disabled"):
        return StoreConfigurationError(
            f"redis {operation}: [redis] cluster = true but the server is not a cluster node"
        )
    if isinstance(exc, RedisError | RedisClusterException):
        return StoreError(f"redis {operation} failed: {exc}")
    return StoreError(f"redis {operation} failed: {type(exc).__name__}: {exc}")


def is_store_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is one :func:`translate` knows (redis-py, socket or timeout errors)."""
    return isinstance(
        exc, RedisError | RedisClusterException | OSError | TimeoutError
    ) or connection_torn_down(exc)

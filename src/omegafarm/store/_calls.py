"""The store's one translating call path, shared by the client and its command groups.

Every redis-py call of the store goes through :meth:`CallPath._call`: redis-py errors become
ours there (:func:`.errors.translate`), so the key/value, script and stream commands (kept in
modules of their own: :mod:`.scripts`, :mod:`.streams`) cannot translate differently.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError

from omegafarm.core.errors import StoreUnavailableError
from omegafarm.store.errors import connection_torn_down, translate
from omegafarm.store.keys import Keys

T = TypeVar("T")


class CallPath:
    """A redis-py client (once connected), the farm's names, and the translating call."""

    keys: Keys
    _redis: Redis | RedisCluster | None

    @property
    def _raw(self) -> Redis | RedisCluster:
        """The underlying redis-py client: this package's business only."""
        if self._redis is None:
            raise StoreUnavailableError("redis client is not connected; call connect() first")
        return self._redis

    async def _call(self, operation: str, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except (RedisError, RedisClusterException, OSError) as exc:
            raise translate(exc, operation) from exc
        except (AttributeError, TypeError) as exc:  # a socket closed under redis-py's write
            if not connection_torn_down(exc):
                raise
            raise translate(exc, operation) from exc

"""store: the Redis Client Service on a real Redis/Valkey server (embedded by default).

Only this package imports redis, and nothing outside it touches a redis-py object. Every key,
channel and stream name is built in :mod:`omegafarm.store.keys` (hash-tagged for Redis Cluster).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegafarm._lazy import lazy_exports

if TYPE_CHECKING:
    from omegafarm.store.client import RedisClient
    from omegafarm.store.codec import decode, encode, tag_decimals
    from omegafarm.store.config import RedisSettings
    from omegafarm.store.embedded import EmbeddedRedis, ServerAddress, default_data_dir
    from omegafarm.store.errors import StoreConfigurationError, StoreFailoverError
    from omegafarm.store.keys import Keys
    from omegafarm.store.pubsub import Message, Subscription
    from omegafarm.store.ratelimit import RateSpec, Reservation
    from omegafarm.store.scripts import Script
    from omegafarm.store.streams import StreamMessage
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "omegafarm.store.client": ("RedisClient",),
            "omegafarm.store.codec": (
                "decode",
                "encode",
                "tag_decimals",
            ),
            "omegafarm.store.config": ("RedisSettings",),
            "omegafarm.store.embedded": (
                "EmbeddedRedis",
                "ServerAddress",
                "default_data_dir",
            ),
            "omegafarm.store.errors": (
                "StoreConfigurationError",
                "StoreFailoverError",
            ),
            "omegafarm.store.keys": ("Keys",),
            "omegafarm.store.pubsub": (
                "Message",
                "Subscription",
            ),
            "omegafarm.store.ratelimit": (
                "RateSpec",
                "Reservation",
            ),
            "omegafarm.store.scripts": ("Script",),
            "omegafarm.store.streams": ("StreamMessage",),
        },
    )

__all__ = [
    "EmbeddedRedis",
    "Keys",
    "Message",
    "RateSpec",
    "RedisClient",
    "RedisSettings",
    "Reservation",
    "Script",
    "ServerAddress",
    "StoreConfigurationError",
    "StoreFailoverError",
    "StreamMessage",
    "Subscription",
    "decode",
    "default_data_dir",
    "encode",
    "tag_decimals",
]

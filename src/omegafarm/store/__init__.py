"""store: the Redis Client Service on a real Redis/Valkey server (embedded by default).

Only this package imports redis. See :mod:`omegafarm.store.keys` for the key scheme.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegafarm._lazy import lazy_exports

if TYPE_CHECKING:
    from omegafarm.store.client import RedisClient, StreamMessage
    from omegafarm.store.codec import decode, encode
    from omegafarm.store.config import RedisSettings
    from omegafarm.store.embedded import EmbeddedRedis, ServerAddress, default_data_dir
    from omegafarm.store.keys import Keys
    from omegafarm.store.pubsub import Message, Subscription
    from omegafarm.store.ratelimit import RateSpec, Reservation
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "omegafarm.store.client": (
                "RedisClient",
                "StreamMessage",
            ),
            "omegafarm.store.codec": (
                "decode",
                "encode",
            ),
            "omegafarm.store.config": ("RedisSettings",),
            "omegafarm.store.embedded": (
                "EmbeddedRedis",
                "ServerAddress",
                "default_data_dir",
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
    "ServerAddress",
    "StreamMessage",
    "Subscription",
    "decode",
    "default_data_dir",
    "encode",
]

"""store: the Redis Client Service on a real Redis/Valkey server (embedded by default).

Only this package imports redis. See :mod:`omegafarm.store.keys` for the key scheme.
"""

from omegafarm.store.client import RedisClient, StreamMessage
from omegafarm.store.codec import decode, encode
from omegafarm.store.config import RedisSettings
from omegafarm.store.embedded import EmbeddedRedis, ServerAddress, default_data_dir
from omegafarm.store.errors import StoreConfigurationError, StoreFailoverError
from omegafarm.store.errors import translate as translate_store_error
from omegafarm.store.keys import Keys
from omegafarm.store.pubsub import Message, Subscription
from omegafarm.store.ratelimit import RateSpec, Reservation

__all__ = [
    "EmbeddedRedis",
    "Keys",
    "Message",
    "RateSpec",
    "RedisClient",
    "RedisSettings",
    "Reservation",
    "ServerAddress",
    "StoreConfigurationError",
    "StoreFailoverError",
    "StreamMessage",
    "Subscription",
    "decode",
    "default_data_dir",
    "encode",
    "translate_store_error",
]

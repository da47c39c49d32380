"""A socket closed under redis-py's asyncio write (redis/redis-py#4287, seen during a cluster
failover) is a lost connection, translated like one; the same exception class raised by our own
code is a bug and is not hidden."""

from __future__ import annotations

import pytest
from redis.asyncio.connection import Connection

from omegafarm.core.errors import StoreUnavailableError, TransientError
from omegafarm.store.errors import connection_torn_down, is_store_failure, translate


async def test_redis_py_writing_to_a_connection_without_a_socket_is_unavailable() -> None:
    conn = Connection(host="127.0.0.1", port=1)  # never connected: its writer is None
    with pytest.raises(AttributeError) as caught:
        await conn._send_packed_command([b"*1\r\n$4\r\nPING\r\n"])  # redis-py's own write
    assert connection_torn_down(caught.value) and is_store_failure(caught.value)
    error = translate(caught.value, "get")
    assert isinstance(error, StoreUnavailableError) and isinstance(error, TransientError)
    assert "redis connection lost during get" in str(error)


def _our_bug(value: object) -> object:
    return value.missing  # type: ignore[attr-defined]  # an AttributeError raised here


def test_an_attribute_error_of_our_own_code_is_not_a_store_failure() -> None:
    with pytest.raises(AttributeError) as caught:
        _our_bug(None)
    assert not connection_torn_down(caught.value) and not is_store_failure(caught.value)

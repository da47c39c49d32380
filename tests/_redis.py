"""Faults on the real Redis server for tests: what a network or a server restart does."""

from __future__ import annotations

from redis.asyncio import from_url


async def kill_pubsub_connections(redis_url: str) -> int:
    """``CLIENT KILL TYPE pubsub`` on the server of ``redis_url``: every subscriber's
    connection breaks (redis-py reconnects and re-subscribes by itself inside its next read);
    how many were killed, asserted to be at least one."""
    killer = from_url(redis_url)
    try:
        killed = int(await killer.client_kill_filter(_type="pubsub"))
    finally:
        await killer.aclose()
    assert killed >= 1, "no pub/sub connection to kill"
    return killed

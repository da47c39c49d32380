"""The per-process cache of verified credentials: bounded in time, dropped on invalidation,
never re-filled by a verification that raced with a revocation."""

from __future__ import annotations

from pathlib import Path

from omegafarm.security import Principal, Role
from omegafarm.security._cache import CredentialCache
from omegafarm.store import RedisClient

ALICE = Principal("alice", Role.TRADER, "token", "aaaaaaaaaaaa")
BOB = Principal("bob", Role.VIEWER, "session", "bbbbbbbbbbbb")


class Clock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def _cache(clock: Clock, ttl_s: float = 10.0) -> CredentialCache:
    cache = CredentialCache(ttl_s, clock=clock)
    cache.enabled = True
    return cache


def test_an_entry_lives_for_the_ttl_and_never_past_the_credentials_expiry() -> None:
    clock = Clock()
    cache = _cache(clock)
    cache.put("omg_a", ALICE, None, cache.generation)
    cache.put("oms_b", BOB, expires_ms=5_000, generation=cache.generation)
    assert cache.get("omg_a", now_ms=0) == ALICE
    assert cache.get("oms_b", now_ms=4_999) == BOB
    assert cache.get("oms_b", now_ms=5_000) is None  # the session itself expired
    clock.now_s += 10.0
    assert cache.get("omg_a", now_ms=0) is None  # the cache's own TTL


def test_drop_forgets_one_prefix_or_every_credential_of_a_user() -> None:
    cache = _cache(Clock())
    cache.put("omg_a", ALICE, None, cache.generation)
    cache.put("oms_b", BOB, None, cache.generation)
    assert cache.drop(prefix="aaaaaaaaaaaa") == 1
    assert cache.get("omg_a", 0) is None and cache.get("oms_b", 0) == BOB
    assert cache.drop(user="bob") == 1
    assert len(cache) == 0


def test_a_verification_older_than_an_invalidation_is_not_cached() -> None:
    cache = _cache(Clock())
    began = cache.generation  # the database said "valid" here...
    cache.drop(prefix="aaaaaaaaaaaa")  # ...then the token was revoked
    cache.put("omg_a", ALICE, None, began)
    assert cache.get("omg_a", 0) is None


def test_a_cache_that_is_not_subscribed_answers_nothing() -> None:
    cache = _cache(Clock())
    cache.put("omg_a", ALICE, None, cache.generation)
    cache.enabled = False
    assert cache.get("omg_a", 0) is None


async def test_the_cache_is_emptied_when_redis_py_reconnects_its_subscription_by_itself(
    tmp_path: Path, redis_client: RedisClient, redis_url: str
) -> None:
    """A revocation published while the invalidation subscription was reconnecting is lost.
    redis-py reconnects a killed connection inside a read, with no error to see; the cache
    must be emptied all the same, not kept until its TTL (300 s here)."""
    from prometheus_client import CollectorRegistry

    from omegafarm.security import SecurityService
    from tests._redis import kill_pubsub_connections
    from tests.api.conftest import fast_security_settings
    from tests.integration._farm import wait_for

    security = SecurityService(
        fast_security_settings(tmp_path, credential_cache_ttl_s=300),
        redis=redis_client,
        metrics_registry=CollectorRegistry(),
    )
    await security.initialize()
    try:
        cache = security.credential_cache

        async def subscribed() -> bool:  # the cache is on once the listener runs
            return cache.enabled

        await wait_for(subscribed, 15, "the credential cache on")
        cache.put("omg_a", ALICE, None, cache.generation)
        assert cache.get("omg_a", now_ms=0) == ALICE
        await kill_pubsub_connections(redis_url)

        async def emptied() -> bool:
            return cache.get("omg_a", now_ms=0) is None

        await wait_for(emptied, 15, "the credential cache emptied after the reconnect")
    finally:
        await security.shutdown()

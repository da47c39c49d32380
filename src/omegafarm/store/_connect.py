"""Building the redis-py client for the configured topology: one server, Sentinel or Cluster.

The rest of the store package sees one object with the redis-py command API (``Redis`` or
``RedisCluster``); which one is decided here, from :class:`~.config.RedisSettings`:

* ``redis://``/``rediss://``/``unix://``: a plain client on one blocking pool;
* Sentinel (``redis+sentinel://`` or ``sentinels``): redis-py's ``Sentinel.master_for``, whose
  connections ask the sentinels for the current master on every (re)connect, so a failover is
  followed without a restart;
* Cluster (``redis+cluster://`` or ``cluster = true``): ``RedisCluster``, which learns the slot
  map, follows MOVED/ASK redirects, scans every primary and splits multi-key DEL by slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote

import redis as sync_redis
import redis.cluster as sync_cluster
import redis.sentinel as sync_sentinel
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel

from omegafarm.core.errors import ConfigError
from omegafarm.store.config import RedisSettings

RedisLike = Redis | RedisCluster
SyncRedisLike = sync_redis.Redis | sync_cluster.RedisCluster


@dataclass(frozen=True)
class _Kit:
    """The redis-py classes of one flavour (asyncio or blocking): the same build for both."""

    pool: Any
    redis: Any
    cluster: Any
    node: Any
    sentinel: Any


_ASYNC = _Kit(BlockingConnectionPool, Redis, RedisCluster, ClusterNode, Sentinel)
_SYNC = _Kit(
    sync_redis.BlockingConnectionPool,
    sync_redis.Redis,
    sync_cluster.RedisCluster,
    sync_cluster.ClusterNode,
    sync_sentinel.Sentinel,
)


@dataclass(frozen=True)
class _Multi:
    """A multi-host URL: ``scheme://[user[:password]@]host:port,host:port/path``."""

    tls: bool
    username: str | None
    password: str | None
    hosts: list[tuple[str, int]]
    path: list[str]


def _parse_multi(url: str) -> _Multi:
    scheme, _, rest = url.partition("://")
    netloc, _, path = rest.partition("/")
    username = password = None
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        user, sep, pw = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(pw) if sep else None
    hosts = []
    for item in netloc.split(","):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"[redis] url: {item!r} is not host:port ({scheme}:// URL)")
        hosts.append((host.strip("[]"), int(port)))
    path_parts = [unquote(p) for p in path.split("?", 1)[0].split("/") if p]
    return _Multi(
        scheme.split("+")[0] in ("rediss", "valkeys"), username, password, hosts, path_parts
    )


def _host_ports(items: list[str]) -> list[tuple[str, int]]:
    out = []
    for item in items:
        host, _, port = item.rpartition(":")
        out.append((host.strip("[]"), int(port)))
    return out


def _redis_scheme(url: str) -> str:
    """redis-py knows ``redis``/``rediss``; ``valkey``/``valkeys`` mean the same."""
    if url.startswith("valkey"):
        return "redis" + url.removeprefix("valkey")
    return url


def build(settings: RedisSettings, common: dict[str, Any]) -> RedisLike:
    """A client for ``settings`` (not connected yet); ``common`` are timeouts and retries."""
    return cast(RedisLike, _build(settings, common, _ASYNC))


def build_sync(settings: RedisSettings, common: dict[str, Any]) -> SyncRedisLike:
    """A blocking client for ``settings``, for code that cannot be async (Optuna's storage)."""
    return cast(SyncRedisLike, _build(settings, common, _SYNC))


def close_sync(client: SyncRedisLike) -> None:
    """Close a client made by :func:`build_sync` (and, for Sentinel, its sentinel connections)."""
    client.close()
    sentinel = getattr(client, "omega_sentinel", None)
    if sentinel is not None:
        for each in sentinel.sentinels:
            each.close()


def _build(settings: RedisSettings, common: dict[str, Any], kit: _Kit) -> Any:
    s = settings
    url = None if s.url is None else s.url.get_secret_value()
    topology = s.topology
    if topology == "sentinel":
        return _sentinel(s, url, common, kit)
    if topology == "cluster":
        return _cluster(s, url, common, kit)
    if url is None:
        raise ConfigError("[redis] url is unset: the embedded server is started by RedisClient")
    pool = kit.pool.from_url(_redis_scheme(url), **common)
    return kit.redis.from_pool(pool)  # the client owns the pool and closes it


def _sentinel(s: RedisSettings, url: str | None, common: dict[str, Any], kit: _Kit) -> Any:
    if url is not None:
        parsed = _parse_multi(url)
        if not parsed.path:
            raise ConfigError(
                "[redis] url: a redis+sentinel:// URL needs the master name as its path,"
                " e.g. redis+sentinel://h1:26379,h2:26379/mymaster"
            )
        master, hosts = parsed.path[0], parsed.hosts
        db = int(parsed.path[1]) if len(parsed.path) > 1 and parsed.path[1].isdigit() else 0
        username, password, tls = parsed.username, parsed.password, parsed.tls
    else:
        master, hosts, db = s.master_name or "", _host_ports(s.sentinels), 0
        username, tls = None, False
        password = None if s.password is None else s.password.get_secret_value()
    conn = {k: v for k, v in common.items() if k != "timeout"}
    sentinel_kwargs = {
        "socket_timeout": common["socket_timeout"],
        "socket_connect_timeout": common["socket_connect_timeout"],
    }
    if s.sentinel_password is not None:
        sentinel_kwargs["password"] = s.sentinel_password.get_secret_value()
    sentinel = kit.sentinel(hosts, sentinel_kwargs=sentinel_kwargs)
    extra: dict[str, Any] = {"db": db, "password": password, "username": username}
    if tls:
        extra["ssl"] = True
    client = sentinel.master_for(master, redis_class=kit.redis, **conn, **extra)
    client.omega_sentinel = sentinel  # closed with the client
    return client


async def close(client: RedisLike) -> None:
    """Close the client, its pool and (for Sentinel) the connections to the sentinels."""
    await client.aclose()
    sentinel = getattr(client, "omega_sentinel", None)
    if sentinel is not None:
        for each in sentinel.sentinels:
            await each.aclose()


def _cluster(s: RedisSettings, url: str | None, common: dict[str, Any], kit: _Kit) -> Any:
    if url is None:
        raise ConfigError("[redis] cluster = true needs a url of one cluster node")
    conn = {k: v for k, v in common.items() if k not in ("timeout",)}
    if "+cluster" in url.split("://", 1)[0]:
        parsed = _parse_multi(url)
        nodes = [kit.node(host, port) for host, port in parsed.hosts]
        return kit.cluster(
            startup_nodes=nodes,
            username=parsed.username,
            password=parsed.password,
            ssl=parsed.tls,
            **conn,
        )
    if url.startswith("unix"):
        raise ConfigError("[redis] cluster = true needs a redis:// URL (cluster nodes talk TCP)")
    return kit.cluster.from_url(_redis_scheme(url), **conn)

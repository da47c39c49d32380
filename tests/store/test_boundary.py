"""Nothing outside store/ touches a redis-py object (import-linter forbids ``import redis``;
this catches the objects that would still leak through attributes)."""

from __future__ import annotations

import ast
from pathlib import Path

from omegafarm.store import RedisClient

SRC = Path(__file__).resolve().parents[2] / "src" / "omegafarm"
# Attributes of redis-py clients (and RedisClient._raw) that only store/ may use; `.redis` is
# how services name their RedisClient, which the second test proves holds no redis-py object.
REDIS_PY_ATTRIBUTES = frozenset(
    {
        "_raw", "register_script", "scan_iter", "evalsha", "eval",
        "pipeline", "pubsub", "xgroup_create", "xreadgroup", "hset", "pexpire", "pttl",
    }
)  # fmt: skip


def test_no_module_outside_store_uses_a_redis_py_attribute() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path.is_relative_to(SRC / "store"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in REDIS_PY_ATTRIBUTES:
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno} .{node.attr}")
    assert offenders == []


async def test_redis_client_exposes_no_redis_py_object(redis_client: RedisClient) -> None:
    leaked = []
    for name in dir(redis_client):
        if name.startswith("_"):
            continue
        value = getattr(redis_client, name)
        if type(value).__module__.split(".")[0] == "redis":
            leaked.append(name)
    assert leaked == []

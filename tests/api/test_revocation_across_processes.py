"""A revoked token is refused by every API process, not only by the one that revoked it:
each process caches verified credentials and drops them when the revocation is published."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from omegafarm.security import Role, SecurityService
from omegafarm.store import RedisClient, RedisSettings
from tests.api.conftest import fast_security_settings

ROOT = Path(__file__).parents[2]


@dataclass
class ApiProcess:
    """A running API process and the credential-cache invalidations it has logged."""

    proc: asyncio.subprocess.Process
    url: str
    invalidated: dict[str, asyncio.Event] = field(default_factory=dict)

    def event(self, prefix: str) -> asyncio.Event:
        return self.invalidated.setdefault(prefix, asyncio.Event())

    async def watch_log(self) -> None:
        assert self.proc.stderr is not None
        async for line in self.proc.stderr:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == "credential_cache_invalidated" and entry.get("prefix"):
                self.event(entry["prefix"]).set()


async def _spawn(redis_url: str, farm: str, security_dir: Path) -> ApiProcess:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.api._api_process",
        redis_url,
        farm,
        str(security_dir),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    assert line, "the API process exited before listening"
    return ApiProcess(proc, json.loads(line)["url"])


@dataclass
class TwoApis:
    first: ApiProcess
    second: ApiProcess
    security: SecurityService


@pytest_asyncio.fixture(loop_scope="session")
async def two_apis(tmp_path: Path, redis_url: str) -> AsyncIterator[TwoApis]:
    farm = "r" + uuid.uuid4().hex[:12]
    redis = RedisClient(
        RedisSettings(url=SecretStr(redis_url), farm=farm), metrics_registry=CollectorRegistry()
    )
    security = SecurityService(
        fast_security_settings(tmp_path), redis=redis, metrics_registry=CollectorRegistry()
    )
    await redis.initialize()
    await security.initialize()
    await security.add_user("admin", Role.ADMIN, None, actor="test")
    await security.add_user("viewer", Role.VIEWER, None, actor="test")
    first, second = await asyncio.gather(  # start-up is mostly imports: overlap them
        _spawn(redis_url, farm, tmp_path), _spawn(redis_url, farm, tmp_path)
    )
    watchers = [asyncio.create_task(p.watch_log()) for p in (first, second)]
    yield TwoApis(first, second, security)
    for p in (first, second):
        assert p.proc.stdin is not None
        p.proc.stdin.close()
        await asyncio.wait_for(p.proc.wait(), 30)
    for watcher in watchers:
        watcher.cancel()
    await security.shutdown()
    await redis.shutdown()


@pytest.mark.slow
async def test_a_revoked_token_is_refused_by_both_processes_within_a_second(
    two_apis: TwoApis,
) -> None:
    admin = (await two_apis.security.create_token("admin", actor="test")).value
    viewer = await two_apis.security.create_token("viewer", actor="test")
    apis = (two_apis.first, two_apis.second)
    bearer = {"Authorization": f"Bearer {viewer.value}"}
    async with httpx.AsyncClient(timeout=10) as http:
        before = [  # twice each: the second answer comes from the process's cache
            (await http.get(f"{api.url}/api/v1/auth/me", headers=bearer)).status_code
            for api in apis
            for _ in range(2)
        ]
        revoked = await http.delete(
            f"{two_apis.first.url}/api/v1/admin/tokens/{viewer.prefix}",
            headers={"Authorization": f"Bearer {admin}"},
        )
        for api in apis:  # the event: each process logs that it dropped the credential
            await asyncio.wait_for(api.event(viewer.prefix).wait(), timeout=1.0)
        after = [
            (await http.get(f"{api.url}/api/v1/auth/me", headers=bearer)).status_code
            for api in apis
        ]
    assert before == [200, 200, 200, 200]
    assert revoked.status_code == 200
    assert after == [401, 401]

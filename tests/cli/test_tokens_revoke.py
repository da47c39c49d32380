"""``omega tokens revoke`` from the CLI reaches a running API at once (issue 14): the CLI
publishes the credential invalidation through the security service, so the API's credential
cache (which would otherwise keep the token for ``credential_cache_ttl_s``) drops it.

Real parts: the session's embedded Valkey, an API process (tests/api/_api_process.py) and
``omega`` as a subprocess.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from omegafarm.security import Role, SecurityService
from tests.api.conftest import fast_security_settings
from tests.api.test_revocation_across_processes import ApiProcess, _spawn

ROOT = Path(__file__).parents[2]


async def _omega(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "omegafarm", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env, "COLUMNS": "200"}, cwd=ROOT,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _stop(api: ApiProcess, watcher: asyncio.Task[None]) -> None:
    assert api.proc.stdin is not None
    api.proc.stdin.close()
    await asyncio.wait_for(api.proc.wait(), 30)
    watcher.cancel()


@pytest.mark.slow
async def test_cli_revoke_is_refused_by_a_running_api_at_the_next_request(
    tmp_path: Path, redis_url: str
) -> None:
    farm = "c" + uuid.uuid4().hex[:12]
    security = SecurityService(
        fast_security_settings(tmp_path), metrics_registry=CollectorRegistry()
    )
    await security.initialize()
    try:
        await security.add_user("viewer", Role.VIEWER, None, actor="test")
        viewer = await security.create_token("viewer", actor="test")
    finally:
        await security.shutdown()
    api = await _spawn(redis_url, farm, tmp_path)
    watcher = asyncio.create_task(api.watch_log())
    try:
        bearer = {"Authorization": f"Bearer {viewer.value}"}
        async with httpx.AsyncClient(timeout=10) as http:
            me = f"{api.url}/api/v1/auth/me"
            before = [(await http.get(me, headers=bearer)).status_code for _ in range(2)]
            code, out, err = await _omega(
                "tokens", "revoke", viewer.prefix,
                env={
                    "OMEGA_REDIS__URL": redis_url,
                    "OMEGA_REDIS__FARM": farm,
                    "OMEGA_SECURITY__DATA_DIR": str(tmp_path),
                },
            )  # fmt: skip
            # the event: the API logs that it dropped the credential from its cache
            await asyncio.wait_for(api.event(viewer.prefix).wait(), timeout=10)
            after = (await http.get(me, headers=bearer)).status_code
    finally:
        await _stop(api, watcher)
    assert before == [200, 200]  # the second answer came from the API's credential cache
    assert code == 0, err
    assert "warning" not in err  # Redis was reached: the invalidation went out
    assert f"token {viewer.prefix} of viewer revoked" in out
    assert after == 401


async def test_cli_revoke_without_a_running_farm_starts_no_redis(tmp_path: Path) -> None:
    security = SecurityService(
        fast_security_settings(tmp_path), metrics_registry=CollectorRegistry()
    )
    await security.initialize()
    try:
        await security.add_user("viewer", Role.VIEWER, None, actor="test")
        viewer = await security.create_token("viewer", actor="test")
    finally:
        await security.shutdown()
    redis_dir = tmp_path / "redis"
    code, out, err = await _omega(
        "tokens", "revoke", viewer.prefix,
        env={"OMEGA_REDIS__DATA_DIR": str(redis_dir), "OMEGA_SECURITY__DATA_DIR": str(tmp_path)},
    )  # fmt: skip
    assert code == 0, err
    assert "revoked" in out
    assert not redis_dir.exists()  # no embedded server was started just to publish
    listed = await _omega("tokens", "list", env={"OMEGA_SECURITY__DATA_DIR": str(tmp_path)})
    assert "revoked" in listed[1]

"""Forwarded headers are believed only from ``api.trusted_proxies``: by default a client's
``X-Forwarded-For`` neither resets the login limit nor picks the address in the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from omegafarm.api import ApiSettings
from omegafarm.security import read_file
from tests.api.conftest import PASSWORD, Farm, start_farm


def _login_sources(farm: Farm) -> list[str]:
    return [
        e["details"]["source"]
        for e in read_file(farm.security.audit.path)
        if e and e["action"] == "login"
    ]


async def _login(
    http: httpx.AsyncClient, forwarded_for: str, password: str = PASSWORD
) -> httpx.Response:
    return await http.post(
        "/api/v1/auth/login",
        json={"user": "viewer", "password": password},
        headers={"X-Forwarded-For": forwarded_for},
    )


@pytest_asyncio.fixture(loop_scope="session")
async def direct_farm(tmp_path: Path, redis_url: str) -> AsyncIterator[Farm]:
    """No trusted proxy (the default); one login attempt, then one per 30 s."""
    running, _ = await start_farm(tmp_path, redis_url, full=False, login_attempts_per_min=2)
    yield running
    await running.registry.stop_all()


@pytest_asyncio.fixture(loop_scope="session")
async def proxied_farm(tmp_path: Path, redis_url: str) -> AsyncIterator[Farm]:
    """Loopback configured as the trusted reverse proxy."""
    running, _ = await start_farm(
        tmp_path,
        redis_url,
        full=False,
        api={"trusted_proxies": ["127.0.0.0/8"]},
        login_attempts_per_min=2,
    )
    yield running
    await running.registry.stop_all()


async def test_forwarded_for_from_an_untrusted_peer_changes_neither_limit_nor_audit(
    direct_farm: Farm,
) -> None:
    async with direct_farm.client() as http:
        first = await _login(http, "10.9.8.1")
        limited = await _login(http, "10.9.8.2", "a wrong password")
        forged = [(await _login(http, f"10.9.8.{n}", "guess")).status_code for n in range(3, 9)]
    assert first.status_code == 200
    assert limited.status_code == 429
    assert forged == [429] * 6  # a new X-Forwarded-For is not a new client
    assert _login_sources(direct_farm) == ["127.0.0.1"]  # the peer, not the header


async def test_a_configured_trusted_proxy_forwards_the_client_address(proxied_farm: Farm) -> None:
    async with proxied_farm.client() as http:
        first = await _login(http, "10.9.8.1")
        limited = await _login(http, "10.9.8.1", "a wrong password")
        other_client = await _login(http, "203.0.113.7")
    assert first.status_code == 200
    assert limited.status_code == 429
    assert other_client.status_code == 200  # behind the proxy: each client its own bucket
    assert _login_sources(proxied_farm) == ["10.9.8.1", "203.0.113.7"]


@pytest.mark.parametrize("entry", ["not-an-ip", "10.0.0.0/33", "*"])
def test_trusted_proxies_must_be_addresses_or_networks(entry: str) -> None:
    with pytest.raises(ValueError, match=r"api\.trusted_proxies"):
        ApiSettings(trusted_proxies=[entry])

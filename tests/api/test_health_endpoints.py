from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from prometheus_client import CollectorRegistry

from omegafarm.api import ApiService, ApiSettings
from omegafarm.core.health import Health
from omegafarm.core.registry import ServiceRegistry
from omegafarm.core.service import BaseService
from omegafarm.store import RedisClient


async def serve(
    services: list[RedisClient], metrics: CollectorRegistry
) -> tuple[ServiceRegistry, ApiService]:
    registry = ServiceRegistry(services)
    api = ApiService(ApiSettings(port=0), registry, metrics_registry=metrics)
    registry.add(api)
    await api.initialize()
    return registry, api


@pytest_asyncio.fixture(loop_scope="session")
async def api_with_redis(redis_client: RedisClient) -> AsyncIterator[ApiService]:
    _, api = await serve([redis_client], CollectorRegistry())
    yield api
    await api.shutdown()


async def test_health_passes_with_redis_latency(api_with_redis: ApiService) -> None:
    async with httpx.AsyncClient(base_url=api_with_redis.url) as http:
        response = await http.get("/health")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/health+json")
    body = response.json()
    assert body["status"] == "pass"
    assert body["checks"]["redis:responseTime"][0]["observedUnit"] == "ms"
    assert body["checks"]["api:status"][0]["status"] == "pass"


async def test_livez_and_readyz_answer_when_all_is_well(api_with_redis: ApiService) -> None:
    async with httpx.AsyncClient(base_url=api_with_redis.url) as http:
        assert (await http.get("/livez")).json() == {"status": "pass"}
        assert (await http.get("/readyz")).status_code == 200


async def test_metrics_are_prometheus_text(
    api_with_redis: ApiService, redis_client: RedisClient
) -> None:
    await redis_client.set("x", 1)
    async with httpx.AsyncClient(base_url=api_with_redis.url) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")


async def test_a_service_that_is_not_ready_fails_readyz_and_health_but_not_livez(
    redis_url: str,
) -> None:
    from pydantic import SecretStr

    from omegafarm.store import RedisSettings

    metrics = CollectorRegistry()
    stopped = RedisClient(RedisSettings(url=SecretStr(redis_url)), metrics_registry=metrics)
    _, api = await serve([stopped], metrics)
    try:
        async with httpx.AsyncClient(base_url=api.url) as http:
            ready = await http.get("/readyz")
            health = await http.get("/health")
            live = await http.get("/livez")
        assert ready.status_code == 503
        assert "redis" in ready.json()["not_ready"]
        assert health.status_code == 503
        assert health.json()["status"] == "fail"
        assert live.status_code == 200
    finally:
        await api.shutdown()


async def test_unknown_route_is_a_problem_document(api_with_redis: ApiService) -> None:
    async with httpx.AsyncClient(base_url=api_with_redis.url) as http:
        response = await http.get("/nope")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 404


class _StuckService(BaseService[None]):
    """A dependency whose health check hangs until released (counts how often it is asked)."""

    name = "stuck"

    def __init__(self) -> None:
        super().__init__(None, metrics_registry=CollectorRegistry())
        self.asked = 0
        self.release = asyncio.Event()

    async def _check_health(self) -> Health:
        self.asked += 1
        await self.release.wait()
        return Health(self.name, live=True, ready=True, reason="released")


async def test_probes_of_a_hanging_dependency_share_one_check_and_report_it() -> None:
    stuck = _StuckService()
    registry = ServiceRegistry([stuck])
    api = ApiService(ApiSettings(port=0, health_refresh_s=0.5), registry)
    registry.add(api)
    await registry.start_all()
    try:
        async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:
            probes = await asyncio.gather(*(http.get("/health") for _ in range(20)))
            ready = await http.get("/readyz")
        assert {p.status_code for p in probes} == {503}
        assert "health check took" in probes[0].text and "stuck" in probes[0].text
        assert ready.status_code == 503
        # probes share the background rounds (one at a time) instead of each asking: nothing
        # piles up behind the hanging check
        assert stuck.asked < len(probes) / 4
    finally:
        stuck.release.set()
        await registry.stop_all()

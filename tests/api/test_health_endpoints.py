from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from prometheus_client import CollectorRegistry

from omegafarm.api import ApiService, ApiSettings
from omegafarm.core.registry import ServiceRegistry
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

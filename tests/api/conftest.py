"""A whole API on loopback: real Redis, security, paper exchange, cosmic and education.

Module-scoped (starting the services costs ~1 s); each module gets its own Redis namespace
and security folder, and the users ``viewer``, ``trader`` and ``admin`` with a token each.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from omegafarm.api import ApiService, ApiSettings
from omegafarm.core.registry import AnyService, ServiceRegistry
from omegafarm.cosmic.service import CosmicFactorService
from omegafarm.education import EducationService, EducationSettings
from omegafarm.exchange import ExchangeService, ExchangeSettings
from omegafarm.security import Role, SecurityService, SecuritySettings
from omegafarm.store import RedisClient, RedisSettings

PASSWORD = "correct horse battery staple"  # a test password


def fast_security_settings(data_dir: Path, **overrides: object) -> SecuritySettings:
    """Cheap argon2 parameters so that tests stay fast (production uses 64 MiB)."""
    values: dict[str, object] = {
        "data_dir": data_dir,
        "argon2_memory_kib": 1024,
        "argon2_time_cost": 1,
        "argon2_parallelism": 1,
        "rate_limit_per_min": 100_000,
        "rate_limit_burst": 10_000,
        "login_attempts_per_min": 1000,
        **overrides,
    }
    return SecuritySettings.model_validate(values)


@dataclass
class Farm:
    """The running API and what tests need to talk to it."""

    url: str
    registry: ServiceRegistry
    security: SecurityService
    redis: RedisClient
    tokens: dict[str, str]  # role label -> bearer token
    metrics: CollectorRegistry

    def client(self, role: str | None = None) -> httpx.AsyncClient:
        """An HTTP client, authenticated as ``role`` (None: anonymous)."""
        headers = {} if role is None else {"Authorization": f"Bearer {self.tokens[role]}"}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30.0)


async def start_farm(
    tmp: Path,
    redis_url: str,
    *,
    full: bool = True,
    api: dict[str, object] | None = None,
    **security: object,
) -> tuple[Farm, ApiService]:
    """Start the services (``full``: exchange, cosmic, education too) and the API.

    ``api``: ApiSettings fields to override; ``security``: SecuritySettings fields."""
    metrics = CollectorRegistry()
    farm_ns = "a" + uuid.uuid4().hex[:12]
    redis = RedisClient(
        RedisSettings(url=SecretStr(redis_url), farm=farm_ns), metrics_registry=metrics
    )
    sec = SecurityService(
        fast_security_settings(tmp / "security", **security), redis=redis, metrics_registry=metrics
    )
    services: list[AnyService] = [redis, sec]
    if full:
        services += [
            ExchangeService(
                ExchangeSettings(
                    ohlcv_cache_path=tmp / "ohlcv.sqlite3", load_markets_on_start=False
                ),
                metrics_registry=metrics,
            ),
            CosmicFactorService(metrics_registry=metrics),
            EducationService(
                EducationSettings(db_path=tmp / "progress.sqlite3"), metrics_registry=metrics
            ),
        ]
    registry = ServiceRegistry(services)
    api_settings = ApiSettings.model_validate({"port": 0, **(api or {})})
    service = ApiService(api_settings, registry, metrics_registry=metrics)
    registry.add(service)
    await registry.start_all()
    tokens: dict[str, str] = {}
    for role in Role:
        await sec.add_user(role.label, role, PASSWORD, actor="test")
        tokens[role.label] = (await sec.create_token(role.label, actor="test")).value
    return Farm(service.url, registry, sec, redis, tokens, metrics), service


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def farm(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> AsyncIterator[Farm]:
    """The full API for one test module."""
    running, _ = await start_farm(tmp_path_factory.mktemp("farm"), redis_url)
    yield running
    await running.registry.stop_all()

"""The composition root: builds every configured service and the registry that runs them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from omegafarm.api.server import ApiService
from omegafarm.core.registry import AnyService, ServiceRegistry
from omegafarm.settings import Settings
from omegafarm.store.client import RedisClient


def build_registry(
    settings: Settings, *, metrics_registry: CollectorRegistry | None = None
) -> ServiceRegistry:
    """Every service of ``omega up``, in a registry that starts them in dependency order."""
    services: list[AnyService] = [RedisClient(settings.redis, metrics_registry=metrics_registry)]
    registry = ServiceRegistry(services, stop_timeout_s=5.0)
    if settings.api.enabled:
        registry.add(
            ApiService(
                settings.api,
                registry,
                depends_on=tuple(s.name for s in services),
                metrics_registry=metrics_registry,
            )
        )
    return registry

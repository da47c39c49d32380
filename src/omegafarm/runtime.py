"""The composition root: builds every configured service and the registry that runs them.

Start order follows ``depends_on`` (independent services start concurrently): redis →
security, exchange; cosmic and education at once; → bots → alerts → api.
The Exchange Service draws on the farm-wide rate limit in Redis; the Education Service checks
tutorial tasks against the Exchange Service (orders) and its candles, through two small
adapters defined here because only the composition root knows both sides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from prometheus_client import CollectorRegistry

from omegafarm.api.alerting import AlertingService
from omegafarm.api.server import ApiService
from omegafarm.bots.service import BotFarmService
from omegafarm.core.registry import AnyService, ServiceRegistry
from omegafarm.cosmic.service import CosmicFactorService
from omegafarm.education.service import EducationService
from omegafarm.education.sources import OhlcvCandles
from omegafarm.exchange.factory import uses_credentials
from omegafarm.exchange.service import ExchangeService
from omegafarm.exchange.vault import Vault, VaultError, open_vault
from omegafarm.security.service import SecurityService
from omegafarm.settings import Settings
from omegafarm.store.client import RedisClient


class ExchangeOrders:
    """The education service's view of paper orders, from the Exchange Service."""

    def __init__(self, exchange: ExchangeService) -> None:
        self._exchange = exchange

    async def fetch_orders(self, symbol: str) -> Sequence[Mapping[str, object]]:
        """Orders of ``symbol`` as plain dicts (side, type, status, price)."""
        orders = await self._exchange.fetch_orders(symbol)
        return [
            {
                "side": o.side,
                "type": o.type,
                "status": o.status,
                "price": float(o.price) if o.price is not None else None,
                "symbol": o.symbol,
            }
            for o in orders
        ]


def _vault(settings: Settings) -> Vault | VaultError | None:
    """The key vault of a live exchange, opened as ``omega keys`` opens it (``[vault]``).

    What keeps it shut (no file, no master key, a wrong passphrase) goes to the Exchange Service,
    which runs on public endpoints only and reports it as a health warning.
    """
    if not uses_credentials(settings.exchange):
        return None
    try:
        return open_vault(settings.vault)
    except VaultError as exc:
        return exc


def build_exchange(
    settings: Settings, redis: RedisClient, *, metrics_registry: CollectorRegistry | None = None
) -> ExchangeService:
    """The farm's Exchange Service (with its vault keys and the farm's Redis)."""
    return ExchangeService(
        settings.exchange, vault=_vault(settings), shared_limit=redis,
        metrics_registry=metrics_registry,
    )  # fmt: skip


def build_registry(
    settings: Settings, *, metrics_registry: CollectorRegistry | None = None
) -> ServiceRegistry:
    """Every service of ``omega up``, in a registry that starts them in dependency order."""
    m = metrics_registry
    redis = RedisClient(settings.redis, metrics_registry=m)
    exchange = build_exchange(settings, redis, metrics_registry=m)
    security = SecurityService(settings.security, redis=redis, metrics_registry=m)
    services: list[AnyService] = [
        redis,
        security,
        exchange,
        CosmicFactorService(settings.cosmic, metrics_registry=m),
        EducationService(
            settings.education,
            orders=ExchangeOrders(exchange),
            candles=OhlcvCandles(exchange),
            metrics_registry=m,
        ),
        BotFarmService(settings.bots, redis, exchange, audit=security.audit, metrics_registry=m),
    ]
    # Services start concurrently as soon as what they depend on runs (ServiceRegistry): the
    # bots write the security service's audit log, and the alert rules read every service.
    bots = services[-1]
    bots.depends_on = (*bots.depends_on, "security")  # type: ignore[misc]  # per-instance
    registry = ServiceRegistry(services, stop_timeout_s=5.0)
    alerts = AlertingService(settings.alerts, registry, metrics_registry=m)
    alerts.depends_on = tuple(s.name for s in services)  # type: ignore[misc]  # per-instance
    registry.add(alerts)
    if settings.api.enabled:
        depends = (*(s.name for s in services), "alerts")
        registry.add(ApiService(settings.api, registry, depends_on=depends, metrics_registry=m))
    return registry

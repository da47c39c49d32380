"""BotFarmService: the farm inside ``omega up`` — registers the bots, runs the gateway and a worker.

Depends on the Redis Client Service and the Exchange Service. More workers can join from other
processes or machines with ``omega worker`` (same Redis); bots then spread over all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, ClassVar

from prometheus_client import REGISTRY, CollectorRegistry

from omegafarm.bots import _names
from omegafarm.bots.config import BotSettings, FarmSettings, load_farm_file
from omegafarm.bots.gateway import Gateway
from omegafarm.bots.metrics import FarmCollector
from omegafarm.bots.worker import Worker
from omegafarm.core.errors import OmegaError
from omegafarm.core.health import Health
from omegafarm.core.service import BaseService
from omegafarm.exchange import ExchangeService
from omegafarm.store import RedisClient


async def register_bots(redis: RedisClient, bots: list[BotSettings]) -> None:
    """Publish the farm's bot list (replacing the previous one)."""
    await redis.set(_names.BOTS, {b.id: b.model_dump(mode="json") for b in bots})


class BotFarmService(BaseService[FarmSettings]):
    """The bots of ``omega up``: gateway (market data, orders) plus one in-process worker."""

    name: ClassVar[str] = "bots"
    depends_on: ClassVar[tuple[str, ...]] = ("redis", "exchange")

    def __init__(
        self,
        settings: FarmSettings,
        redis: RedisClient,
        exchange: ExchangeService,
        *,
        metrics_registry: CollectorRegistry | None = None,
    ) -> None:
        super().__init__(settings, metrics_registry=metrics_registry)
        self.redis, self.exchange = redis, exchange
        self.worker: Worker | None = None
        self.gateway: Gateway | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.collector = FarmCollector(redis)
        (metrics_registry or REGISTRY).register(self.collector)

    async def _on_initialize(self) -> None:
        bots = load_farm_file(self.settings.farm_file)
        await register_bots(self.redis, bots)
        self._stop = asyncio.Event()
        if self.settings.run_gateway:
            markets = {(b.symbol, b.timeframe) for b in bots}
            self.gateway = Gateway(self.redis, self.exchange, self.settings, markets)
            self._tasks.append(asyncio.create_task(self.gateway.run(self._stop)))
        if self.settings.run_worker:
            self.worker = Worker(self.redis, self.settings)
            self._tasks.append(asyncio.create_task(self.worker.run(self._stop)))
        self._tasks.append(asyncio.create_task(self._refresh_metrics()))
        self.log_activity("farm_started", bots=len(bots), worker=bool(self.worker))

    async def _refresh_metrics(self) -> None:
        """Keep the Prometheus view of every bot's status fresh (every second)."""
        while not self._stop.is_set():
            try:
                await self.collector.refresh()
            except OmegaError as exc:
                self.handle_error(exc, operation="refresh_metrics")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=1.0)

    async def _on_shutdown(self) -> None:
        self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=10)
        self._tasks.clear()

    async def _check_health(self) -> Health:
        paused = self.worker is not None and self.worker.paused
        running = len(self.worker.bots) if self.worker else 0
        reason = "paused: redis unreachable" if paused else f"{running} bots on this worker"
        return Health(self.name, live=True, ready=not paused, reason=reason, degraded=paused)

    def _extra_metrics(self) -> dict[str, Any]:
        return {
            "bots_here": len(self.worker.bots) if self.worker else 0,
            "gateway_commands": self.gateway.commands_done if self.gateway else 0,
        }

"""BotFarmService: the farm inside ``omega up`` — registers the bots, runs the gateway and a worker.

Depends on the Redis Client Service and the Exchange Service. More workers can join from other
processes or machines with ``omega worker`` (same Redis); bots then spread over all of them.

It is also a :class:`~omegafarm.bots.control.BotControl` for the API: the reads and the
start/stop actions are those of :class:`~omegafarm.bots.control.FarmControl` (the same object
``omega bots`` uses, audited with the acting user), plus what only this process knows (its
worker and gateway) in ``farm_status``. The live feed's ``bots`` channel is pushed by whoever
changes a bot: the bot itself (its status row and equity sample after each event), the
control actions (stopping) and the worker that lets a bot go (stopped); this service only
checks every :data:`~omegafarm.bots.metrics.REFRESH_S` for the state changes nobody pushes (a
dead worker's bots going back to "starting"), in a few batched reads.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, ClassVar

from prometheus_client import REGISTRY, CollectorRegistry

from omegafarm.bots import _view, staleness
from omegafarm.bots.config import BotSettings, FarmSettings, load_farm_file
from omegafarm.bots.control import FarmControl
from omegafarm.bots.gateway import Gateway
from omegafarm.bots.metrics import REFRESH_S, FarmCollector
from omegafarm.bots.worker import Worker
from omegafarm.core.errors import OmegaError
from omegafarm.core.health import Health, HealthState
from omegafarm.core.service import BaseService
from omegafarm.core.supervisor import Supervisor
from omegafarm.exchange import ExchangeService
from omegafarm.security import AuditLog
from omegafarm.store import RedisClient
from omegafarm.store import keys as _names
from omegafarm.store.migrate import check_layout

_SILENT_READ_S = 0.5  # the health check's read of other workers' candle ages, at most


async def register_bots(redis: RedisClient, bots: list[BotSettings]) -> None:
    """Publish the farm's bot list (replacing the previous one); the workers re-read it."""
    await redis.set(_names.BOTS, {b.id: b.model_dump(mode="json") for b in bots})
    await _view.control_changed(redis)


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
        audit: AuditLog | None = None,
        metrics_registry: CollectorRegistry | None = None,
    ) -> None:
        """``audit``: where start/stop actions are recorded (the security service's log)."""
        super().__init__(settings, metrics_registry=metrics_registry)
        self.redis, self.exchange = redis, exchange
        self.control = FarmControl(redis, audit)
        self.worker: Worker | None = None
        self.gateway: Gateway | None = None
        self._stop = asyncio.Event()
        self._registry = metrics_registry
        self.supervisor = Supervisor("bots", metrics_registry=metrics_registry,
                                     on_change=self._supervisor_changed)  # fmt: skip
        self.collector = FarmCollector(redis)
        self._seen: dict[str, tuple[Any, ...]] = {}  # bot id -> last published fingerprint
        self.events_published = 0
        (metrics_registry or REGISTRY).register(self.collector)

    async def _on_initialize(self) -> None:
        await check_layout(self.redis)  # an older farm's keys: `omega store migrate` first
        bots = load_farm_file(self.settings.farm_file)
        await register_bots(self.redis, bots)
        self._stop = asyncio.Event()
        self.supervisor = Supervisor("bots", metrics_registry=self._registry,
                                     on_change=self._supervisor_changed)  # fmt: skip
        if self.settings.run_gateway:
            markets = {(b.symbol, b.timeframe) for b in bots}
            gateway = Gateway(self.redis, self.exchange, self.settings, markets,
                              metrics_registry=self._registry)  # fmt: skip
            self.gateway = gateway
            self.supervisor.start("gateway", lambda: gateway.run(self._stop))
        if self.settings.run_worker:
            worker = Worker(self.redis, self.settings, metrics_registry=self._registry)
            self.worker = worker
            self.supervisor.start("worker", lambda: worker.run(self._stop))
        self.supervisor.start("refresh", self._refresh_metrics)
        self.log_activity("farm_started", bots=len(bots), worker=bool(self.worker))

    async def _refresh_metrics(self) -> None:
        """Keep the Prometheus view fresh and publish the state changes nobody pushed (every
        ``REFRESH_S``); Redis errors are counted and retried, anything else goes to the
        supervisor."""
        while not self._stop.is_set():
            try:
                await self.collector.refresh()
                await self.publish_bot_events()
            except OmegaError as exc:
                self.handle_error(exc, operation="refresh_metrics")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=REFRESH_S)

    async def _on_shutdown(self) -> None:
        self._stop.set()
        with contextlib.suppress(TimeoutError):  # the loops end on the stop event
            await asyncio.wait_for(asyncio.shield(self.supervisor.wait()), timeout=10)
        await self.supervisor.close()

    def _supervisor_changed(self, state: HealthState, reason: str) -> None:
        if state is HealthState.PASS:
            self._set_recovered()
        else:
            self._set_degraded(reason)

    async def _check_health(self) -> Health:
        """Ready unless the worker is paused or a loop keeps failing; warns (degraded) about
        failing loops and about bots that heard no candle for 3 of their timeframes."""
        ready, degraded, reasons = True, False, []
        parts = [] if self.worker is None else [self.worker.health(silent_bots=False)]
        parts += [] if self.gateway is None else [self.gateway.health()]
        for ok, bad, why in parts:
            ready, degraded = ready and ok, degraded or bad
            if bad or not ok:
                reasons.append(why)
        silent = await self._silent_elsewhere()
        if silent:
            degraded = True
            tfs = staleness.SILENT_TIMEFRAMES
            reasons.append(f"{len(silent)} bots heard no candle for {tfs} timeframes: "
                           + ", ".join(silent))  # fmt: skip
        running = len(self.worker.bots) if self.worker else 0
        reason = "; ".join(dict.fromkeys(reasons)) or f"{running} bots on this worker"
        if self.gateway is not None:
            role = "active" if self.gateway.lease is not None else "standby"
            reason = f"{reason}; gateway {role}"
        base = Health(self.name, live=True, ready=ready, degraded=degraded, reason=reason)
        return self.supervisor.health(base)

    async def _silent_elsewhere(self) -> list[str]:
        """Silent bots of every worker (this one's are counted in its own report too)."""
        try:  # bounded: a read hanging on a dead cluster node must not hide the local report
            ages = await asyncio.wait_for(staleness.candle_ages(self.redis), _SILENT_READ_S)
        except (OmegaError, TimeoutError):  # Redis down: the worker's report says so already
            return []
        return sorted(b for b, age in ages.items() if age.silent)

    def _extra_metrics(self) -> dict[str, Any]:
        return {
            "bots_here": len(self.worker.bots) if self.worker else 0,
            "gateway_commands": self.gateway.commands_done if self.gateway else 0,
        }

    # ----------------------------------------------------------------- live feed
    async def publish_bot_events(self) -> int:
        """Publish ``{"kind": "status", ...row}`` on ``bots`` for each bot whose derived state,
        desired state or worker changed since the last call and that nobody pushed (a worker
        died, its lease expired); returns how many events. The bots push their own rows and
        equity samples (``{"kind": "equity", "id", "ts_ms", "equity", ...}``) as they change.
        """
        events: list[dict[str, Any]] = []
        for row in await _view.rows(self.redis):
            bot_id = row["id"]
            mark = (row["state"], row["desired"], row["worker"])
            if self._seen.get(bot_id) != mark:
                self._seen[bot_id] = mark
                events.append({"kind": "status", **row})
        if events:
            await self.redis.publish_many(_names.FEED_BOTS, events)
            self.events_published += len(events)
        return len(events)

    # ----------------------------------------------------------------- bot control
    async def farm_status(self) -> dict[str, Any]:
        """Counts of bots by state, live workers, farm sums and this process's part."""
        farm = await self.control.farm_status()
        return {
            "state": str(self.state),
            **farm,
            "workers": farm["workers"] if self.worker is None else max(1, farm["workers"]),
            "worker_here": self.worker.id if self.worker else None,
            "bots_here": sorted(self.worker.bots) if self.worker else [],
            "paused": bool(self.worker and self.worker.paused),
            "gateway": None if self.gateway is None else {
                "markets": len(self.gateway.markets),
                "commands_done": self.gateway.commands_done,
                "commands_waiting": await self.gateway.commands_waiting(),
                "dropped_stale": self.gateway.dropped_stale,
                "id": self.gateway.id,
                "role": "active" if self.gateway.lease is not None else "standby",
                "active": await self.gateway.lease_mgr.holder(),
                "partitions": sorted(self.gateway.partitions),
                "partition_count": self.gateway.partition_count,
                "takeovers": self.gateway.takeovers,
                "reconcile": {"halts": self.gateway.reconciler.halts,
                              "healed": self.gateway.reconciler.healed},
                "repairs": self.gateway.repairs(),
            },
        }  # fmt: skip

    async def list_bots(self) -> list[dict[str, Any]]:
        return await self.control.list_bots()

    async def bot_status(self, bot_id: str) -> dict[str, Any]:
        return await self.control.bot_status(bot_id)

    async def bot_metrics(self, bot_id: str) -> dict[str, Any]:
        return await self.control.bot_metrics(bot_id)

    async def bot_trades(self, bot_id: str) -> list[dict[str, Any]]:
        return await self.control.bot_trades(bot_id)

    async def start_bot(self, bot_id: str, *, actor: str) -> dict[str, Any]:
        return await self.control.start_bot(bot_id, actor=actor)

    async def stop_bot(self, bot_id: str, *, actor: str) -> dict[str, Any]:
        return await self.control.stop_bot(bot_id, actor=actor)

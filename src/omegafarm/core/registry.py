"""The service registry: start services in dependency order, stop them in reverse.

:meth:`ServiceRegistry.run_until_signal` is what ``omega up`` runs: it starts everything, waits
for SIGINT or SIGTERM (or a stop event), then stops every service within a bounded time —
in-flight work finishes or is cancelled cleanly, and a service that does not stop in time is
logged and abandoned so that the process still exits.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeAlias

import structlog

from omegafarm.core.errors import ConfigError, NotFoundError
from omegafarm.core.health import Health
from omegafarm.core.service import BaseService

_log = structlog.get_logger("omegafarm", service="registry")

AnyService: TypeAlias = BaseService[Any]  # services of any settings type


class ServiceRegistry:
    """Owns a set of services and their start/stop order."""

    def __init__(self, services: Iterable[AnyService], *, stop_timeout_s: float = 5.0) -> None:
        self._services: dict[str, AnyService] = {}
        for service in services:
            if service.name in self._services:
                raise ConfigError(f"two services are named {service.name!r}")
            self._services[service.name] = service
        self._order = self._resolve_order()
        self._stop_timeout_s = stop_timeout_s
        self._started: list[AnyService] = []
        self.started = asyncio.Event()  # set once every service runs

    def add(self, service: AnyService) -> None:
        """Add a service before the registry starts (e.g. the API, which needs the registry)."""
        if self._started:
            raise ConfigError(f"cannot add {service.name!r}: services are already running")
        if service.name in self._services:
            raise ConfigError(f"two services are named {service.name!r}")
        self._services[service.name] = service
        self._order = self._resolve_order()

    @property
    def order(self) -> Sequence[str]:
        """Service names in start order."""
        return [s.name for s in self._order]

    def get(self, name: str) -> AnyService:
        """The service called ``name``."""
        try:
            return self._services[name]
        except KeyError:
            raise NotFoundError(
                f"no service named {name!r}; known: {sorted(self._services)}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._services

    def __iter__(self) -> Iterator[AnyService]:
        return iter(self._order)

    async def start_all(self) -> None:
        """Start every service as soon as the services it depends on run, independent ones
        concurrently (what one waits for, Redis starting or a file loading in a thread, another
        uses); if one fails, stop it (releasing what its start acquired) and every other
        started or starting one, then re-raise the first failure."""
        tasks: dict[str, asyncio.Task[None]] = {}

        async def start(service: AnyService) -> None:
            needed = [tasks[name] for name in service.depends_on]
            if needed:  # a failed dependency raises here: this service never starts
                await asyncio.gather(*needed)
            self._started.append(service)  # stopped in reverse: after what depends on it
            await service.initialize()

        for service in self._order:  # dependencies first, so their tasks exist
            tasks[service.name] = asyncio.create_task(start(service), name=f"start:{service.name}")
        try:
            await asyncio.gather(*tasks.values())
        except BaseException:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            await self.stop_all()
            raise

    async def stop_all(self) -> None:
        """Stop started services in reverse order, each within the stop timeout."""
        while self._started:
            service = self._started.pop()
            try:
                await asyncio.wait_for(service.shutdown(), timeout=self._stop_timeout_s)
            except TimeoutError:
                _log.error(
                    "service_stop_timed_out", target=service.name, timeout_s=self._stop_timeout_s
                )
            except Exception as exc:  # keep stopping the others; this one is logged and counted
                service.handle_error(exc, operation="shutdown")

    async def health(self) -> list[Health]:
        """Every service's health report, in start order."""
        return list(await asyncio.gather(*(s.health() for s in self._order)))

    async def run_until_signal(self, stop: asyncio.Event | None = None) -> None:
        """Start all, wait for SIGINT/SIGTERM (or ``stop``), then stop all."""
        stop_event = stop if stop is not None else asyncio.Event()
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop_event.set)
                installed.append(sig)
            except (NotImplementedError, RuntimeError):  # not the main thread: caller stops us
                pass
        try:
            await self.start_all()
            self.started.set()
            _log.info("services_started", services=self.order)
            await stop_event.wait()
            _log.info("shutdown_requested")
        finally:
            await self.stop_all()
            for sig in installed:
                loop.remove_signal_handler(sig)

    def _resolve_order(self) -> list[AnyService]:
        order: list[AnyService] = []
        state: dict[str, str] = {}

        def visit(name: str, path: list[str]) -> None:
            if state.get(name) == "done":
                return
            if state.get(name) == "visiting":
                raise ConfigError(f"services depend on each other in a cycle: {' -> '.join(path)}")
            service = self._services.get(name)
            if service is None:
                raise ConfigError(f"{path[-2]} depends on {name!r}, which is not configured")
            state[name] = "visiting"
            for dep in service.depends_on:
                visit(dep, [*path, dep])
            state[name] = "done"
            order.append(service)

        for name in self._services:
            visit(name, [name])
        return order

"""ApiService: serves the FastAPI app with uvicorn inside the service lifecycle.

Signals are handled by the service registry, not by uvicorn, so that Ctrl-C stops the API
first and then every other service in reverse start order.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Generator
from typing import Any

import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from omegafarm.api._health import HealthMonitor
from omegafarm.api._local import LocalCache
from omegafarm.api.app import create_app
from omegafarm.api.config import ApiSettings
from omegafarm.core.errors import ServiceError
from omegafarm.core.registry import ServiceRegistry
from omegafarm.core.service import BaseService


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the registry owns SIGINT/SIGTERM


class ApiService(BaseService[ApiSettings]):
    """The HTTP API as a service; started last, stopped first."""

    name = "api"

    def __init__(
        self,
        settings: ApiSettings,
        registry: ServiceRegistry,
        *,
        depends_on: tuple[str, ...] = (),
        metrics_registry: CollectorRegistry | None = None,
    ) -> None:
        super().__init__(settings, metrics_registry=metrics_registry)
        self.depends_on = depends_on  # type: ignore[misc]  # per-instance: whatever is configured
        self._registry = registry
        self._metrics_registry = metrics_registry
        self._server: _Server | None = None
        self.app: FastAPI | None = None
        self._task: asyncio.Task[None] | None = None
        self._health_task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The base URL the API listens on (with the real port when port 0 was asked)."""
        scheme = "https" if self.settings.tls_certfile else "http"
        port = self.settings.port
        if self._server is not None and self._server.servers:
            port = self._server.servers[0].sockets[0].getsockname()[1]
        return f"{scheme}://{self.settings.host}:{port}"

    async def _on_initialize(self) -> None:
        s = self.settings
        ssl: dict[str, Any] = {}
        if s.tls_certfile and s.tls_keyfile:
            ssl = {"ssl_certfile": str(s.tls_certfile), "ssl_keyfile": str(s.tls_keyfile)}
        self.app = create_app(
            self._registry,
            metrics_registry=self._metrics_registry,
            ws_queue_size=s.ws_queue_size,
            max_body_bytes=s.max_body_bytes,
        )
        self.app.state.ticker_local_cache = LocalCache(s.ticker_local_ttl_s)
        monitor: HealthMonitor = self.app.state.health_monitor
        self._health_task = asyncio.create_task(
            monitor.run(s.health_refresh_s, timeout_s=max(1.0, 2 * s.health_refresh_s)),
            name="api-health",
        )
        config = uvicorn.Config(
            self.app,
            host=s.host,
            port=s.port,
            log_config=None,
            access_log=False,
            lifespan="off",
            # Forwarded headers only from the configured proxies: uvicorn's own default trusts
            # every loopback peer, which would let any local client choose its address.
            proxy_headers=bool(s.trusted_proxies),
            forwarded_allow_ips=list(s.trusted_proxies),
            **ssl,
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(), name="api-server")
        while not self._server.started:
            if self._task.done():
                error = self._task.exception() if not self._task.cancelled() else None
                raise ServiceError(
                    f"API could not listen on {s.host}:{s.port}: {error or 'exited'}"
                )
            await asyncio.sleep(0.01)
        # Everything built so far (imported libraries, markets, settings) lives as long as the
        # process: move it out of the collector's sight, so that the garbage collections
        # triggered by request churn walk only request objects, not the whole heap.
        gc.freeze()
        self.log_activity("api_listening", url=self.url)

    async def _on_shutdown(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
            self._health_task = None
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self.settings.stop_timeout_s)
        except TimeoutError:
            self._server.force_exit = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._server = None
        self._task = None

"""BaseService: the lifecycle, logging, metrics, health and error handling every service shares.

A service subclasses :class:`BaseService`, sets ``name`` (its configuration section) and
``depends_on`` (names of services that must start first), and overrides the hooks
``_on_initialize``, ``_on_shutdown``, ``_on_configure`` and ``_check_health``. The public
methods are final: they drive an explicit state table so that ``initialize()`` and
``shutdown()`` are idempotent and every transition is logged once::

    created ──initialize──► starting ──► running ◄──► degraded
                               │            │
                               ▼            ▼
                             failed ──► stopping ──► stopped

``shutdown()`` of a *failed* service still runs ``_on_shutdown``: a start that failed half-way
(a pool opened, a server launched, then an error) must not leave those resources open, so
``_on_shutdown`` releases whatever was acquired and tolerates what was not.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Any, ClassVar, Generic, Self, TypeVar

import structlog
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from omegafarm.core.errors import ServiceStateError, is_transient
from omegafarm.core.health import Health
from omegafarm.core.metrics import ServiceMetrics, service_metrics

SettingsT = TypeVar("SettingsT", bound=BaseModel)


class ServiceState(StrEnum):
    CREATED = "created"
    STARTING = "starting"
    RUNNING = "running"
    DEGRADED = "degraded"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


_ALLOWED: dict[ServiceState, frozenset[ServiceState]] = {
    ServiceState.CREATED: frozenset({ServiceState.STARTING, ServiceState.STOPPED}),
    ServiceState.STARTING: frozenset({ServiceState.RUNNING, ServiceState.FAILED}),
    ServiceState.RUNNING: frozenset({ServiceState.DEGRADED, ServiceState.STOPPING}),
    ServiceState.DEGRADED: frozenset({ServiceState.RUNNING, ServiceState.STOPPING}),
    ServiceState.STOPPING: frozenset({ServiceState.STOPPED, ServiceState.FAILED}),
    ServiceState.STOPPED: frozenset({ServiceState.STARTING}),
    ServiceState.FAILED: frozenset(
        {ServiceState.STARTING, ServiceState.STOPPING, ServiceState.STOPPED}
    ),
}


@dataclass(frozen=True)
class ErrorDecision:
    """What ``handle_error`` concluded: whether the error is transient and worth retrying."""

    error_class: str
    transient: bool
    retry: bool
    message: str


class BaseService(Generic[SettingsT]):
    """Lifecycle + logging + metrics + health + error handling for one service.

    Subclasses set ``name`` and ``depends_on`` and implement the ``_on_*`` hooks.
    ``metrics_registry`` lets tests use a private Prometheus registry.
    """

    name: ClassVar[str] = "service"
    depends_on: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self, settings: SettingsT, *, metrics_registry: CollectorRegistry | None = None
    ) -> None:
        self._settings = settings
        self._state = ServiceState.CREATED
        self._state_reason = "not started"
        self._metrics: ServiceMetrics = service_metrics(metrics_registry)
        self._log = structlog.get_logger("omegafarm", service=self.name)
        self._started_at_s: float | None = None
        self._op_counts: dict[str, int] = {}
        self._error_counts: dict[str, int] = {}

    # ----------------------------------------------------------------- public contract
    @property
    def settings(self) -> SettingsT:
        return self._settings

    @property
    def state(self) -> ServiceState:
        return self._state

    async def initialize(self) -> None:
        """Start the service; a second call while running does nothing."""
        if self._state in (ServiceState.RUNNING, ServiceState.DEGRADED):
            return
        self._transition(ServiceState.STARTING, "starting")
        try:
            await self._on_initialize()
        except BaseException as exc:
            self._transition(ServiceState.FAILED, f"start failed: {exc}")
            self._log.error("service_start_failed", error=str(exc), error_class=type(exc).__name__)
            raise
        self._started_at_s = time.monotonic()
        self._transition(ServiceState.RUNNING, "running")
        self._log.info("service_started")

    async def shutdown(self) -> None:
        """Stop the service; calling it on a stopped (or never started) service does nothing.

        A failed service runs ``_on_shutdown`` too, so a half-done start releases what it took.
        """
        if self._state in (ServiceState.STOPPED, ServiceState.CREATED):
            self._state = ServiceState.STOPPED
            return
        self._transition(ServiceState.STOPPING, "stopping")
        try:
            await self._on_shutdown()
        except BaseException as exc:
            self._transition(ServiceState.FAILED, f"stop failed: {exc}")
            self._log.error("service_stop_failed", error=str(exc), error_class=type(exc).__name__)
            raise
        self._transition(ServiceState.STOPPED, "stopped")
        self._log.info("service_stopped")

    def configure(self, settings: SettingsT | Mapping[str, Any]) -> None:
        """Apply new settings (a settings object or a partial mapping, validated)."""
        if isinstance(settings, BaseModel):
            new = settings
        else:
            merged = {**self._settings.model_dump(), **dict(settings)}
            new = type(self._settings).model_validate(merged)
        self._on_configure(new)
        self._settings = new
        self._log.info("service_configured")

    def get_metrics(self) -> dict[str, Any]:
        """A snapshot: state, uptime, operation and error counts (plus the service's own)."""
        uptime_s = time.monotonic() - self._started_at_s if self._started_at_s else 0.0
        return {
            "service": self.name,
            "state": str(self._state),
            "uptime_s": round(uptime_s, 3),
            "operations": dict(self._op_counts),
            "errors": dict(self._error_counts),
            **self._extra_metrics(),
        }

    def log_activity(self, event: str, **fields: Any) -> None:
        """Log one structured event carrying the service name."""
        self._log.info(event, **fields)

    def handle_error(self, exc: BaseException, *, operation: str, **context: Any) -> ErrorDecision:
        """Classify ``exc``, count it, log it once with context and say whether to retry."""
        transient = is_transient(exc)
        error_class = type(exc).__name__
        self._metrics.errors.labels(self.name, error_class, str(transient).lower()).inc()
        self._error_counts[error_class] = self._error_counts.get(error_class, 0) + 1
        self._log.warning(
            "operation_failed",
            operation=operation,
            error_class=error_class,
            error=str(exc),
            transient=transient,
            **context,
        )
        return ErrorDecision(
            error_class=error_class, transient=transient, retry=transient, message=str(exc)
        )

    async def health(self) -> Health:
        """Liveness and readiness with a reason; readiness requires the running state."""
        if self._state not in (ServiceState.RUNNING, ServiceState.DEGRADED):
            return Health(
                self.name,
                live=self._state is not ServiceState.FAILED,
                ready=False,
                reason=f"state is {self._state}: {self._state_reason}",
            )
        try:
            return await self._check_health()
        except Exception as exc:  # a health probe must report, never raise
            return Health(self.name, live=True, ready=False, reason=f"health check failed: {exc}")

    # ----------------------------------------------------------------- helpers for subclasses
    @asynccontextmanager
    async def track(self, operation: str) -> AsyncIterator[None]:
        """Count and time one operation; errors are counted by ``handle_error`` callers."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self._metrics.latency.labels(self.name, operation).observe(time.perf_counter() - start)
            self._metrics.operations.labels(self.name, operation).inc()
            self._op_counts[operation] = self._op_counts.get(operation, 0) + 1

    def _require_running(self) -> None:
        if self._state not in (ServiceState.RUNNING, ServiceState.DEGRADED):
            raise ServiceStateError(f"{self.name} is {self._state}; call initialize() first")

    def _set_degraded(self, reason: str) -> None:
        if self._state is ServiceState.RUNNING:
            self._transition(ServiceState.DEGRADED, reason)
            self._log.warning("service_degraded", reason=reason)

    def _set_recovered(self) -> None:
        if self._state is ServiceState.DEGRADED:
            self._transition(ServiceState.RUNNING, "running")
            self._log.info("service_recovered")

    def _transition(self, new: ServiceState, reason: str) -> None:
        if new not in _ALLOWED[self._state]:
            raise ServiceStateError(f"{self.name}: cannot go from {self._state} to {new}")
        self._state = new
        self._state_reason = reason

    # ----------------------------------------------------------------- hooks
    async def _on_initialize(self) -> None:
        """Acquire resources. Raise to fail the start."""

    async def _on_shutdown(self) -> None:
        """Release resources; finish or cancel in-flight work."""

    def _on_configure(self, settings: SettingsT) -> None:
        """React to new settings (they are applied after this returns)."""

    async def _check_health(self) -> Health:
        """Measure dependencies; the default reports ready while running."""
        degraded = self._state is ServiceState.DEGRADED
        return Health(
            self.name, live=True, ready=True, reason=self._state_reason, degraded=degraded
        )

    def _extra_metrics(self) -> dict[str, Any]:
        """Service-specific values for ``get_metrics()``."""
        return {}

    # ----------------------------------------------------------------- context manager
    async def __aenter__(self) -> Self:
        await self.initialize()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} state={self._state}>"

"""The farm's health as last observed, kept current in the background.

``/health`` and ``/readyz`` answer from here, so a probe costs no more than a constant page
and many probes never pile up behind a slow dependency: one task asks every service every
``refresh_s`` seconds (bounded by ``timeout_s``; a round that takes longer reports ``fail``
with that reason) and renders both answers once. Before the first round, or when no task
runs (an app built without :class:`~omegafarm.api.ApiService`), a request asks the services
itself, as before.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import structlog

from omegafarm import __version__
from omegafarm.core.health import Health, HealthState, aggregate
from omegafarm.core.registry import ServiceRegistry

_log = structlog.get_logger("omegafarm", service="api")


@dataclass(frozen=True)
class Rendered:
    """One answer: status code and body bytes."""

    status: int
    body: bytes


@dataclass(frozen=True)
class Snapshot:
    """``/health`` and ``/readyz`` answers from one round of checks."""

    health: Rendered
    ready: Rendered
    checked_s: float  # monotonic


def _dumps(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def render(reports: list[Health]) -> Snapshot:
    """Both answers for one set of reports."""
    doc = aggregate(reports)
    doc["version"] = __version__
    health = Rendered(503 if doc["status"] == HealthState.FAIL else 200, _dumps(doc))
    not_ready = {r.service: r.reason for r in reports if not r.ready}
    body: dict[str, Any] = {"status": "fail" if not_ready else "pass"}
    if not_ready:
        body["not_ready"] = not_ready
    ready = Rendered(503 if not_ready else 200, _dumps(body))
    return Snapshot(health, ready, time.monotonic())


class HealthMonitor:
    """The latest :class:`Snapshot` of a registry's health, refreshed by :meth:`run`."""

    def __init__(self, registry: ServiceRegistry) -> None:
        self._registry = registry
        self.snapshot: Snapshot | None = None
        self.running = False
        self._timeout_s: float | None = None
        self._first: asyncio.Task[Snapshot] | None = None

    async def current(self) -> Snapshot:
        """The latest snapshot, or a fresh one when no background task keeps it."""
        if not self.running:
            return await self.check(timeout_s=None)
        if self.snapshot is not None:
            return self.snapshot
        if self._first is None:  # before the first round: concurrent probes share one check
            self._first = asyncio.create_task(self._check_now(self._timeout_s))
            self._first.add_done_callback(self._first_done)
        return await asyncio.shield(self._first)

    def _first_done(self, task: asyncio.Task[Snapshot]) -> None:
        self._first = None
        if not task.cancelled():
            task.exception()  # retrieved: the probes that awaited it got it

    async def check(self, timeout_s: float | None) -> Snapshot:
        """Ask every service now and keep the result."""
        self.snapshot = await self._check_now(timeout_s)
        return self.snapshot

    async def _check_now(self, timeout_s: float | None) -> Snapshot:
        """Ask every service now (not kept: services may still be starting)."""
        return render(await self._registry.health(timeout_s))  # a hanging check is named

    async def run(self, refresh_s: float, timeout_s: float) -> None:
        """Refresh every ``refresh_s`` until cancelled; a failing round is logged, not fatal."""
        self.running = True
        self._timeout_s = timeout_s
        try:
            while True:  # the first round waits: services are still starting now
                await asyncio.sleep(refresh_s)
                try:
                    await self.check(timeout_s)
                except Exception as exc:  # keep the loop: log the failure and report it as health
                    _log.error("health_refresh_failed", error_class=type(exc).__name__)
                    self.snapshot = render(
                        [Health("api", live=True, ready=False, reason="health refresh failed")]
                    )
        finally:
            self.running = False
            if self._first is not None:
                self._first.cancel()

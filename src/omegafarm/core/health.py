"""Health reports: liveness, readiness with a reason, and per-component checks.

The HTTP rendering follows the IETF draft "Health Check Response Format for HTTP APIs"
(``application/health+json``): ``status`` is ``pass``, ``warn`` or ``fail`` and ``checks`` is
keyed ``component:measurement``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class HealthState(StrEnum):
    PASS = "pass"  # noqa: S105  # a health state, not a password
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    """One measurement of one component, e.g. ``redis:responseTime``."""

    component: str
    measurement: str
    status: HealthState
    observed_value: float | str | None = None
    observed_unit: str | None = None
    output: str = ""

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"componentId": self.component, "status": str(self.status)}
        if self.observed_value is not None:
            body["observedValue"] = self.observed_value
        if self.observed_unit:
            body["observedUnit"] = self.observed_unit
        if self.output:
            body["output"] = self.output
        return body


@dataclass(frozen=True)
class Health:
    """A service's health: alive (the process works), ready (it can serve) and why not."""

    service: str
    live: bool
    ready: bool
    reason: str = ""
    degraded: bool = False
    checks: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def state(self) -> HealthState:
        if not self.live or not self.ready:
            return HealthState.FAIL
        if self.degraded or any(c.status is not HealthState.PASS for c in self.checks):
            return HealthState.WARN
        return HealthState.PASS


def aggregate(reports: list[Health]) -> dict[str, Any]:
    """Combine service reports into one ``application/health+json`` document."""
    states = [r.state for r in reports]
    if HealthState.FAIL in states:
        status = HealthState.FAIL
    elif HealthState.WARN in states:
        status = HealthState.WARN
    else:
        status = HealthState.PASS
    checks: dict[str, list[dict[str, Any]]] = {}
    for report in reports:
        checks.setdefault(f"{report.service}:status", []).append(
            {
                "componentId": report.service,
                "status": str(report.state),
                "output": report.reason,
                "observedValue": "ready" if report.ready else "not ready",
            }
        )
        for check in report.checks:
            checks.setdefault(f"{check.component}:{check.measurement}", []).append(check.as_json())
    notes = [f"{r.service}: {r.reason}" for r in reports if r.state is not HealthState.PASS]
    doc: dict[str, Any] = {"status": str(status), "checks": checks}
    if notes:
        doc["notes"] = notes
    return doc

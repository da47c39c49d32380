"""AlertingService: rules from configuration, evaluated continuously, notified once per change.

Each rule is either "service X not ready" or "a Prometheus metric above/below a threshold"
(its value, or its per-second rate between two evaluations). A condition must hold for the
rule's ``for_s`` before the alert fires; a firing alert is notified once (again every
``repeat_after_s`` if set) and once more when it resolves: alerts are deduplicated by rule.
Notifications go to the log, a generic JSON webhook and a Discord webhook; a failing
notifier is logged and counted, never allowed to stop the evaluation loop. The loop runs under
a :class:`~omegafarm.core.supervisor.Supervisor`: an evaluation that raises is logged with its
traceback, counted, and the loop restarts with backoff; repeated failures make the service
degraded (then not ready) with the error as the reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, CollectorRegistry

from omegafarm.api.config import AlertRule, AlertSettings
from omegafarm.core.health import Health, HealthState
from omegafarm.core.registry import ServiceRegistry
from omegafarm.core.service import BaseService
from omegafarm.core.supervisor import Supervisor

if TYPE_CHECKING:  # httpx is imported at the first notification
    import httpx


@dataclass
class _State:
    pending_since_s: float | None = None
    firing: bool = False
    notified_s: float = 0.0
    last_value: float | None = None
    last_sample: tuple[float, float] | None = None  # (time, value) for rates


@dataclass(frozen=True)
class AlertEvent:
    """A change worth telling someone about."""

    rule: str
    status: str  # "firing" or "resolved"
    severity: str
    summary: str
    value: float | None
    ts_ms: int

    def as_json(self) -> dict[str, Any]:
        """The webhook body."""
        return {
            "alert": self.rule,
            "status": self.status,
            "severity": self.severity,
            "summary": self.summary,
            "value": self.value,
            "ts_ms": self.ts_ms,
        }


class AlertingService(BaseService[AlertSettings]):
    """Evaluates alert rules every ``interval_s`` and sends deduplicated notifications."""

    name = "alerts"

    def __init__(
        self,
        settings: AlertSettings,
        registry: ServiceRegistry,
        *,
        metrics_registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(settings, metrics_registry=metrics_registry)
        self._registry = registry
        self._source = metrics_registry if metrics_registry is not None else REGISTRY
        self._clock = clock
        self._states = {rule.name: _State() for rule in settings.rules}
        self._supervisor = Supervisor("alerts", metrics_registry=metrics_registry,
                                      on_change=self._supervisor_changed)  # fmt: skip
        self._http: httpx.AsyncClient | None = None
        self._may_notify = False
        self.notify_failures = 0
        self.sent: list[AlertEvent] = []

    async def _on_initialize(self) -> None:
        # The HTTP client is made at the first notification: building its TLS context (the CA
        # bundle) cost omega up ~0.2-0.6 s of start-up for a client most runs never use.
        self._may_notify = True
        if self.settings.enabled:
            self._supervisor.start("evaluate", self._loop)

    async def _on_shutdown(self) -> None:
        self._may_notify = False
        await self._supervisor.close()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _loop(self) -> None:
        while True:
            await self.evaluate_once()
            await asyncio.sleep(self.settings.interval_s)

    def _supervisor_changed(self, state: HealthState, reason: str) -> None:
        if state is HealthState.PASS:
            self._set_recovered()
        else:
            self._set_degraded(reason)

    async def _check_health(self) -> Health:
        return self._supervisor.health(await super()._check_health())

    @property
    def firing(self) -> list[str]:
        """Names of the rules firing now."""
        return [name for name, state in self._states.items() if state.firing]

    async def evaluate_once(self) -> list[AlertEvent]:
        """Evaluate every rule now; notify and return the changes."""
        now = self._clock()
        events: list[AlertEvent] = []
        for rule in self.settings.rules:
            holds, value, summary = await self._condition(rule, now)
            event = self._advance(rule, self._states[rule.name], holds, value, summary, now)
            if event is not None:
                events.append(event)
        for event in events:
            await self._notify(event)
        return events

    def _advance(
        self,
        rule: AlertRule,
        state: _State,
        holds: bool,
        value: float | None,
        summary: str,
        now: float,
    ) -> AlertEvent | None:
        state.last_value = value
        if not holds:
            state.pending_since_s = None
            if state.firing:
                state.firing = False
                return self._event(rule, "resolved", f"resolved: {summary}", value, now)
            return None
        if state.pending_since_s is None:
            state.pending_since_s = now
        if not state.firing and now - state.pending_since_s >= rule.for_s:
            state.firing, state.notified_s = True, now
            return self._event(rule, "firing", summary, value, now)
        repeat = self.settings.repeat_after_s
        if state.firing and repeat is not None and now - state.notified_s >= repeat:
            state.notified_s = now
            return self._event(rule, "firing", summary, value, now)
        return None

    def _event(
        self, rule: AlertRule, status: str, summary: str, value: float | None, now: float
    ) -> AlertEvent:
        return AlertEvent(rule.name, status, rule.severity, summary, value, int(now * 1000))

    async def _condition(self, rule: AlertRule, now: float) -> tuple[bool, float | None, str]:
        if rule.kind == "unavailable":
            service = rule.service or ""
            if service not in self._registry:
                return False, None, f"{service} is not configured"
            report = await self._registry.get(service).health()
            return not report.ready, None, f"{service} not ready: {report.reason}"
        value = self._metric(rule)
        if rule.mode == "rate":
            state = self._states[rule.name]
            previous, state.last_sample = state.last_sample, (now, value)
            if previous is None or now <= previous[0]:
                return False, None, f"{rule.metric}: first sample"
            value = (value - previous[1]) / (now - previous[0])
        above = value > rule.threshold if rule.op == ">" else value < rule.threshold
        unit = "/s" if rule.mode == "rate" else ""
        return above, value, f"{rule.metric} = {value:.4g}{unit} ({rule.op} {rule.threshold:g})"

    def _metric(self, rule: AlertRule) -> float:
        total = 0.0
        for family in self._source.collect():
            for sample in family.samples:
                if sample.name == rule.metric and all(
                    sample.labels.get(k) == v for k, v in rule.labels.items()
                ):
                    total += float(sample.value)
        return total

    async def _notify(self, event: AlertEvent) -> None:
        self.sent.append(event)
        log = self._log.warning if event.status == "firing" else self._log.info
        log(
            "alert_" + event.status,
            alert=event.rule,
            severity=event.severity,
            summary=event.summary,
            value=event.value,
        )
        s = self.settings
        icon = "\N{LARGE RED CIRCLE}" if event.status == "firing" else "\N{LARGE GREEN CIRCLE}"
        targets: list[tuple[str, dict[str, Any]]] = []
        if s.webhook_url is not None:
            targets.append((s.webhook_url.get_secret_value(), event.as_json()))
        if s.discord_webhook_url is not None:
            text = f"{icon} **{event.status.upper()}** `{event.rule}` ({event.severity}): "
            targets.append(
                (s.discord_webhook_url.get_secret_value(), {"content": text + event.summary})
            )
        for url, body in targets:
            await self._post(url, body, event)

    async def _post(self, url: str, body: dict[str, Any], event: AlertEvent) -> None:
        import httpx  # with its client, at the first notification (not on omega up's path)

        if self._http is None:
            if not self._may_notify:  # stopped (or never started): nothing goes out
                return
            self._http = httpx.AsyncClient(timeout=self.settings.notify_timeout_s)
        try:
            response = await self._http.post(url, json=body)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            self.notify_failures += 1
            self._log.warning(
                "alert_notify_failed", alert=event.rule, error_class=type(exc).__name__
            )

    def _extra_metrics(self) -> dict[str, Any]:
        return {"firing": self.firing, "notify_failures": self.notify_failures}

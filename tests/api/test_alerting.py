"""Alerting: a rule fires after its hold time, is notified once (log, JSON webhook, Discord
webhook on a loopback receiver) and resolves; metric rules use values and rates."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest_asyncio
from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import BaseModel, SecretStr

from omegafarm.api import AlertingService, AlertRule, AlertSettings
from omegafarm.core.health import Health
from omegafarm.core.registry import ServiceRegistry
from omegafarm.core.service import BaseService


class Switch(BaseModel):
    """Settings of the test service (none)."""


class SwitchableService(BaseService[Switch]):
    """A real service whose readiness the test sets (stands in for an unreachable exchange)."""

    name = "exchange"

    def __init__(self) -> None:
        super().__init__(Switch(), metrics_registry=CollectorRegistry())
        self.ready = True

    async def _check_health(self) -> Health:
        return Health(self.name, live=True, ready=self.ready, reason="switch")


class Clock:
    def __init__(self) -> None:
        self.now_s = 1_000.0

    def __call__(self) -> float:
        return self.now_s


class Receiver:
    """A loopback HTTP server that records every POSTed JSON body, by path."""

    def __init__(self) -> None:
        self.bodies: asyncio.Queue[tuple[str, dict]] = asyncio.Queue()
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        path = head.split(" ", 2)[1]
        length = next(
            int(line.split(":", 1)[1])
            for line in head.split("\r\n")
            if line.lower().startswith("content-length")
        )
        body = json.loads(await reader.readexactly(length))
        await self.bodies.put((path, body))
        writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()


@pytest_asyncio.fixture(loop_scope="session")
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    assert r.server is not None
    r.server.close()
    await r.server.wait_closed()


async def test_unavailable_service_fires_once_then_resolves(receiver: Receiver) -> None:
    exchange, clock = SwitchableService(), Clock()
    registry = ServiceRegistry([exchange])
    settings = AlertSettings(
        enabled=False,  # the test drives evaluate_once itself
        webhook_url=SecretStr(receiver.url + "/hook"),
        discord_webhook_url=SecretStr(receiver.url + "/discord"),
        rules=[AlertRule(name="exchange-down", kind="unavailable", service="exchange", for_s=30)],
    )
    alerts = AlertingService(settings, registry, clock=clock)
    await exchange.initialize()
    await alerts.initialize()
    try:
        exchange.ready = False
        assert await alerts.evaluate_once() == []  # pending: not yet 30 s
        clock.now_s += 31
        fired = await alerts.evaluate_once()
        clock.now_s += 5
        again = await alerts.evaluate_once()  # still down: no duplicate
        exchange.ready = True
        clock.now_s += 5
        resolved = await alerts.evaluate_once()
        received = [await asyncio.wait_for(receiver.bodies.get(), 10) for _ in range(4)]
    finally:
        await alerts.shutdown()
        await exchange.shutdown()
    assert [e.status for e in fired] == ["firing"] and again == []
    assert [e.status for e in resolved] == ["resolved"]
    hooks = [body for path, body in received if path == "/hook"]
    discord = [body for path, body in received if path == "/discord"]
    assert [h["status"] for h in hooks] == ["firing", "resolved"]
    assert hooks[0]["alert"] == "exchange-down" and "not ready" in hooks[0]["summary"]
    assert "FIRING" in discord[0]["content"] and "RESOLVED" in discord[1]["content"]
    assert receiver.bodies.empty()


async def test_metric_rules_on_values_and_rates() -> None:
    metrics, clock = CollectorRegistry(), Clock()
    drawdown = Gauge("omega_bot_drawdown_ratio", "test", ["bot"], registry=metrics)
    errors = Counter("omega_test_errors", "test", registry=metrics)
    settings = AlertSettings(
        enabled=False,
        rules=[
            AlertRule(
                name="drawdown",
                kind="metric",
                metric="omega_bot_drawdown_ratio",
                labels={"bot": "b1"},
                threshold=0.2,
            ),
            AlertRule(
                name="errors",
                kind="metric",
                metric="omega_test_errors_total",
                mode="rate",
                threshold=1.0,
            ),
        ],
    )
    alerts = AlertingService(settings, ServiceRegistry([]), metrics_registry=metrics, clock=clock)
    await alerts.initialize()
    try:
        drawdown.labels("b1").set(0.1)
        drawdown.labels("b2").set(0.9)  # another bot: not this rule's label
        assert await alerts.evaluate_once() == []  # first rate sample
        errors.inc(50)
        clock.now_s += 10  # 5 errors/s
        drawdown.labels("b1").set(0.25)
        fired = await alerts.evaluate_once()
        clock.now_s += 10  # no new errors: 0/s
        later = await alerts.evaluate_once()
    finally:
        await alerts.shutdown()
    assert sorted(e.rule for e in fired) == ["drawdown", "errors"]
    assert next(e for e in fired if e.rule == "errors").value == 5.0
    assert [(e.rule, e.status) for e in later] == [("errors", "resolved")]
    assert alerts.firing == ["drawdown"]


async def test_a_failing_webhook_is_counted_not_raised() -> None:
    clock = Clock()
    exchange = SwitchableService()
    settings = AlertSettings(
        enabled=False,
        webhook_url=SecretStr("http://127.0.0.1:9/unreachable"),  # discard port: refused
        rules=[AlertRule(name="down", kind="unavailable", service="exchange")],
    )
    alerts = AlertingService(settings, ServiceRegistry([exchange]), clock=clock)
    await alerts.initialize()
    try:
        events = await alerts.evaluate_once()  # never started: not ready
    finally:
        await alerts.shutdown()
    assert [e.status for e in events] == ["firing"]
    assert alerts.notify_failures == 1

from __future__ import annotations

import asyncio
import io
import json
from typing import ClassVar

import pytest
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, ConfigDict

from omegafarm.core import BaseService, ServiceState, ServiceStateError, StoreUnavailableError
from omegafarm.core.errors import ConfigError, ValidationError
from omegafarm.core.logging import configure_logging
from omegafarm.core.registry import ServiceRegistry


class DemoSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    interval_s: float = 1.0


class Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []


class Demo(BaseService[DemoSettings]):
    name: ClassVar[str] = "demo"

    def __init__(
        self, name: str, recorder: Recorder, deps: tuple[str, ...] = (), fail: bool = False
    ) -> None:
        self.name = name  # type: ignore[misc]
        super().__init__(DemoSettings(), metrics_registry=CollectorRegistry())
        self.depends_on = deps  # type: ignore[misc]
        self.recorder = recorder
        self.fail = fail
        self.configured: list[float] = []

    async def _on_initialize(self) -> None:
        if self.fail:
            raise RuntimeError(f"{self.name} cannot start")
        self.recorder.events.append(f"start {self.name}")

    async def _on_shutdown(self) -> None:
        self.recorder.events.append(f"stop {self.name}")

    def _on_configure(self, settings: DemoSettings) -> None:
        self.configured.append(settings.interval_s)


async def test_initialize_and_shutdown_are_idempotent() -> None:
    rec = Recorder()
    service = Demo("a", rec)
    await service.initialize()
    await service.initialize()
    assert service.state is ServiceState.RUNNING
    await service.shutdown()
    await service.shutdown()
    assert service.state is ServiceState.STOPPED
    assert rec.events == ["start a", "stop a"]


async def test_failed_start_reports_failed_and_not_ready() -> None:
    service = Demo("a", Recorder(), fail=True)
    with pytest.raises(RuntimeError):
        await service.initialize()
    assert service.state is ServiceState.FAILED
    health = await service.health()
    assert not health.ready
    assert "cannot start" in health.reason


class HalfStart(Demo):
    """Acquires a resource, then fails its start."""

    async def _on_initialize(self) -> None:
        self.recorder.events.append("open pool")
        raise RuntimeError("server refused")

    async def _on_shutdown(self) -> None:
        self.recorder.events.append("close pool")


async def test_shutdown_after_a_failed_start_releases_what_the_start_acquired() -> None:
    rec = Recorder()
    service = HalfStart("redis", rec)
    with pytest.raises(RuntimeError):
        await service.initialize()
    assert service.state is ServiceState.FAILED

    await service.shutdown()
    await service.shutdown()  # idempotent

    assert rec.events == ["open pool", "close pool"]
    assert service.state is ServiceState.STOPPED


async def test_configure_validates_and_applies_partial_settings() -> None:
    service = Demo("a", Recorder())
    service.configure({"interval_s": 2.5})
    assert service.settings.interval_s == 2.5
    assert service.configured == [2.5]
    with pytest.raises(Exception, match="interval_s"):
        service.configure({"interval_s": "soon"})
    assert service.settings.interval_s == 2.5


async def test_handle_error_classifies_counts_and_logs_once() -> None:
    stream = io.StringIO()
    configure_logging(fmt="json", stream=stream)  # type: ignore[arg-type]
    service = Demo("a", Recorder())
    transient = service.handle_error(StoreUnavailableError("down"), operation="get", key="k")
    permanent = service.handle_error(ValidationError("bad symbol"), operation="get")
    assert (transient.transient, transient.retry) == (True, True)
    assert (permanent.transient, permanent.retry) == (False, False)
    assert service.get_metrics()["errors"] == {"StoreUnavailableError": 1, "ValidationError": 1}
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert [x["error_class"] for x in lines] == ["StoreUnavailableError", "ValidationError"]
    assert lines[0]["service"] == "a" and lines[0]["key"] == "k"


async def test_track_counts_operations_in_metrics() -> None:
    service = Demo("a", Recorder())
    for _ in range(3):
        async with service.track("fetch"):
            pass
    assert service.get_metrics()["operations"] == {"fetch": 3}


async def test_calls_before_start_are_refused() -> None:
    with pytest.raises(ServiceStateError, match="initialize"):
        Demo("a", Recorder())._require_running()


async def test_registry_starts_in_dependency_order_and_stops_in_reverse() -> None:
    rec = Recorder()
    registry = ServiceRegistry(
        [Demo("api", rec, ("bots",)), Demo("bots", rec, ("redis",)), Demo("redis", rec)]
    )
    assert list(registry.order) == ["redis", "bots", "api"]
    await registry.start_all()
    await registry.stop_all()
    assert rec.events == [
        "start redis",
        "start bots",
        "start api",
        "stop api",
        "stop bots",
        "stop redis",
    ]


async def test_registry_stops_started_services_when_one_fails() -> None:
    rec = Recorder()
    registry = ServiceRegistry([Demo("redis", rec), Demo("bots", rec, ("redis",), fail=True)])
    with pytest.raises(RuntimeError):
        await registry.start_all()
    assert rec.events == ["start redis", "stop bots", "stop redis"]  # the failed one too


class Handshake(Demo):
    """Starts only once its partner is starting too: sequential start would never finish."""

    def __init__(self, name: str, recorder: Recorder, mine: asyncio.Event, theirs: asyncio.Event):
        super().__init__(name, recorder)
        self.mine, self.theirs = mine, theirs

    async def _on_initialize(self) -> None:
        self.mine.set()
        await self.theirs.wait()
        await super()._on_initialize()


async def test_independent_services_start_concurrently_and_dependents_after() -> None:
    rec = Recorder()
    left, right = asyncio.Event(), asyncio.Event()
    registry = ServiceRegistry(
        [
            Handshake("education", rec, left, right),
            Handshake("redis", rec, right, left),
            Demo("bots", rec, ("redis", "education")),
        ]
    )
    await asyncio.wait_for(registry.start_all(), timeout=10)
    await registry.stop_all()
    assert rec.events[2:4] == ["start bots", "stop bots"]
    assert sorted(rec.events[:2]) == ["start education", "start redis"]
    assert sorted(rec.events[4:]) == ["stop education", "stop redis"]


async def test_a_failure_stops_a_sibling_still_starting() -> None:
    rec = Recorder()
    never = asyncio.Event()
    registry = ServiceRegistry(
        [
            Handshake("slow", rec, asyncio.Event(), never),  # waits forever unless cancelled
            Demo("broken", rec, fail=True),
            Demo("after", rec, ("slow",)),
        ]
    )
    with pytest.raises(RuntimeError, match="broken cannot start"):
        await asyncio.wait_for(registry.start_all(), timeout=10)
    assert sorted(rec.events) == ["stop broken", "stop slow"]  # "after" never started


def test_registry_rejects_unknown_dependencies_and_cycles() -> None:
    with pytest.raises(ConfigError, match="not configured"):
        ServiceRegistry([Demo("a", Recorder(), ("ghost",))])
    with pytest.raises(ConfigError, match="cycle"):
        ServiceRegistry([Demo("a", Recorder(), ("b",)), Demo("b", Recorder(), ("a",))])


async def test_run_until_signal_stops_on_the_stop_event() -> None:
    rec = Recorder()
    registry = ServiceRegistry([Demo("a", rec)])
    stop = asyncio.Event()
    task = asyncio.create_task(registry.run_until_signal(stop))
    await asyncio.wait_for(registry.started.wait(), 5)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert rec.events == ["start a", "stop a"]


async def test_a_service_that_hangs_on_stop_is_abandoned_in_bounded_time() -> None:
    class Hangs(Demo):
        async def _on_shutdown(self) -> None:
            await asyncio.Event().wait()

    registry = ServiceRegistry([Hangs("slow", Recorder())], stop_timeout_s=0.1)
    await registry.start_all()
    await asyncio.wait_for(registry.stop_all(), 2)

"""The Supervisor: crashes are logged with a traceback, counted, restarted and reported."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from omegafarm.core.health import Health, HealthState
from omegafarm.core.supervisor import Supervisor


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_a_crashing_loop_is_logged_once_counted_and_restarted() -> None:
    registry = CollectorRegistry()
    runs: list[int] = []
    second_run = asyncio.Event()

    async def loop() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            {}["missing"]  # a real bug: KeyError
        second_run.set()
        await asyncio.Event().wait()  # then runs until cancelled

    with capture_logs() as events:
        async with Supervisor("svc", metrics_registry=registry, base_backoff_s=0.01) as sup:
            sup.start("work", loop)
            await asyncio.wait_for(second_run.wait(), timeout=5)
            status = sup.statuses()[0]

    assert runs == [0, 1]
    labels = {"owner": "svc", "task": "work", "error_class": "KeyError"}
    assert _sample(registry, "omega_task_failures_total", **labels) == 1
    crashed = [e for e in events if e["event"] == "task_crashed"]
    assert len(crashed) == 1
    assert isinstance(crashed[0]["exc_info"], KeyError)  # rendered as a traceback
    assert status.total_failures == 1 and status.last_error == "KeyError: 'missing'"
    assert status.running


async def test_repeated_failures_degrade_then_fail_the_owner_with_the_reason() -> None:
    changes: list[tuple[HealthState, str]] = []
    failures = 0
    third = asyncio.Event()
    fifth = asyncio.Event()

    async def loop() -> None:
        nonlocal failures
        failures += 1
        if failures == 3:
            third.set()
        if failures == 5:
            fifth.set()
        raise ConnectionResetError(f"peer reset #{failures}")

    sup = Supervisor(
        "gw",
        metrics_registry=CollectorRegistry(),
        base_backoff_s=0.001,
        max_backoff_s=0.002,
        degrade_after=3,
        fail_after=5,
        on_change=lambda state, reason: changes.append((state, reason)),
    )
    base = Health("gw", live=True, ready=True, reason="serving")
    sup.start("market", loop)
    await asyncio.wait_for(third.wait(), timeout=5)
    await asyncio.wait_for(fifth.wait(), timeout=5)
    report = sup.health(base)
    await sup.close()

    assert [state for state, _ in changes][:2] == [HealthState.WARN, HealthState.FAIL]
    assert "loop 'market' failed 3 times in a row: ConnectionResetError" in changes[0][1]
    assert not report.ready and report.degraded
    assert "failed" in report.reason and report.reason.endswith("serving")
    assert any(c.measurement == "loop:market" and c.status is HealthState.FAIL
               for c in report.checks)  # fmt: skip


async def test_a_loop_that_runs_healthily_again_clears_its_streak() -> None:
    attempts = 0
    healthy = asyncio.Event()

    async def loop() -> None:
        nonlocal attempts
        attempts += 1
        if attempts <= 3:
            raise RuntimeError("pubsub connection not set")
        await asyncio.Event().wait()

    def changed(state: HealthState, _reason: str) -> None:
        if state is HealthState.PASS:
            healthy.set()

    sup = Supervisor("w", metrics_registry=CollectorRegistry(), base_backoff_s=0.001,
                     healthy_after_s=0.05, on_change=changed)  # fmt: skip
    sup.start("market", loop)
    await asyncio.wait_for(healthy.wait(), timeout=5)
    assert sup.state is HealthState.PASS and sup.reason == ""
    assert sup.statuses()[0].total_failures == 3
    await sup.close()


async def test_a_loop_that_returns_is_finished_and_close_cancels_the_others() -> None:
    cancelled = asyncio.Event()

    async def short() -> None:
        return None

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    sup = Supervisor("x", metrics_registry=CollectorRegistry())
    sup.start("short", short)
    sup.start("forever", forever)
    await asyncio.sleep(0)  # wait-ok: lets both tasks start
    await asyncio.sleep(0)  # wait-ok: and the short one end
    running = {s.name: s.running for s in sup.statuses()}
    await sup.close()
    assert cancelled.is_set()
    assert running == {"forever": True, "short": False}
    assert sup.statuses() == []


async def test_a_unit_without_a_loop_is_reported_and_forgotten() -> None:
    registry = CollectorRegistry()
    healthy = asyncio.Event()
    sup = Supervisor("worker", metrics_registry=registry, degrade_after=2, fail_after=3,
                     healthy_after_s=0.05,
                     on_change=lambda s, _: healthy.set() if s is HealthState.PASS else None)  # fmt: skip
    for _ in range(2):
        sup.record_failure("bot:b1", ZeroDivisionError("division by zero"))
    assert sup.state is HealthState.WARN and "bot:b1" in sup.reason
    sup.record_failure("bot:b1", ZeroDivisionError("division by zero"))
    assert sup.state is HealthState.WARN  # one bad unit degrades, never fails, its owner
    await asyncio.wait_for(healthy.wait(), timeout=5)  # no failure for healthy_after_s
    assert sup.state is HealthState.PASS
    sup.record_failure("bot:b1", ZeroDivisionError("again"))
    sup.forget("bot:b1")
    assert sup.statuses() == []
    labels = {"owner": "worker", "task": "bot:b1", "error_class": "ZeroDivisionError"}
    assert _sample(registry, "omega_task_failures_total", **labels) == 4

"""Supervisor: every long-running loop of the farm runs under one, so no task dies unnoticed.

A supervised loop is a coroutine function that runs until its service stops. When it raises
anything but a cancellation, the supervisor

1. logs the exception once, with its traceback (``task_crashed``);
2. counts it in ``omega_task_failures_total{owner,task,error_class}``;
3. restarts the loop after a backoff (exponential with jitter, capped), so a loop that fails at
   once on every start cannot spin;
4. after ``degrade_after`` failures in a row reports the owner degraded, after ``fail_after``
   failed (not ready), with the last error as the reason: :meth:`Supervisor.health` folds that
   into the owner's :class:`~omegafarm.core.health.Health`, so ``/readyz`` and ``/health`` tell
   the truth. A loop that then runs ``healthy_after_s`` without failing is healthy again.

A loop that returns normally is finished and not restarted. The tasks belong to the supervisor
(structured concurrency, like ``asyncio.TaskGroup``): :meth:`Supervisor.close` cancels and awaits
every one of them, and an ``async with`` block does so on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Self

import structlog
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

from omegafarm.core.health import Check, Health, HealthState

_log = structlog.get_logger("omegafarm.supervisor")

LoopFn = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class _Families:
    failures: Counter
    failing: Gauge


_families: dict[int, tuple[CollectorRegistry, _Families]] = {}


def _metric_families(registry: CollectorRegistry | None) -> _Families:
    reg = registry if registry is not None else REGISTRY
    found = _families.get(id(reg))
    if found is not None and found[0] is reg:
        return found[1]
    families = _Families(
        failures=Counter(
            "omega_task_failures",
            "Unexpected exceptions that ended a supervised loop (it was restarted).",
            ["owner", "task", "error_class"],
            registry=reg,
        ),
        failing=Gauge(
            "omega_task_consecutive_failures",
            "Failures in a row of a supervised loop (0 once it runs healthily again).",
            ["owner", "task"],
            registry=reg,
        ),
    )
    _families[id(reg)] = (reg, families)
    return families


@dataclass(frozen=True)
class TaskStatus:
    """How one supervised loop is doing."""

    name: str
    running: bool
    failures: int  # in a row
    total_failures: int
    last_error: str


@dataclass
class _Task:
    name: str
    fn: LoopFn
    task: asyncio.Task[None] | None = None
    failures: int = 0
    total_failures: int = 0
    last_error: str = ""
    started_s: float = 0.0
    runs: int = 0
    in_run: bool = False
    finished: bool = False
    unit: bool = False  # reported with record_failure: degrades its owner, never fails it


class Supervisor:
    """Owns a service's long-running loops: restarts them, counts and reports their failures."""

    def __init__(
        self,
        owner: str,
        *,
        metrics_registry: CollectorRegistry | None = None,
        base_backoff_s: float = 0.1,
        max_backoff_s: float = 10.0,
        degrade_after: int = 3,
        fail_after: int = 10,
        healthy_after_s: float = 30.0,
        on_change: Callable[[HealthState, str], None] | None = None,
    ) -> None:
        self.owner = owner
        self._metrics = _metric_families(metrics_registry)
        self._base_backoff_s = base_backoff_s
        self._max_backoff_s = max_backoff_s
        self._degrade_after = degrade_after
        self._fail_after = fail_after
        self._healthy_after_s = healthy_after_s
        self._on_change = on_change
        self._tasks: dict[str, _Task] = {}
        self._closed = False
        self._state = HealthState.PASS

    # ----------------------------------------------------------------- lifecycle
    def start(self, name: str, fn: LoopFn) -> None:
        """Run ``fn()`` as the loop ``name`` (unique per supervisor) in the running event loop."""
        if self._closed:
            raise RuntimeError(f"supervisor {self.owner!r} is closing")
        if name in self._tasks and not self._tasks[name].finished:
            raise ValueError(f"{self.owner}: a loop named {name!r} is already running")
        entry = _Task(name, fn)
        self._tasks[name] = entry
        entry.task = asyncio.create_task(self._supervise(entry), name=f"{self.owner}:{name}")

    async def close(self) -> None:
        """Cancel every loop and wait until each has ended (idempotent; ``start`` works again
        afterwards, so an owner that is restarted can reuse its supervisor)."""
        self._closed = True
        tasks = [t.task for t in self._tasks.values() if t.task is not None]
        for task in tasks:
            task.cancel()
        try:
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        finally:
            self._tasks = {n: t for n, t in self._tasks.items() if t.task not in tasks}
            self._closed = False
            self._update_state()

    async def wait(self) -> None:
        """Wait until every loop has finished (returned normally) or been cancelled."""
        tasks = [t.task for t in self._tasks.values() if t.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def record_failure(self, name: str, exc: Exception) -> None:
        """Report a failure of a unit that is not a loop of its own (one bot inside a loop):
        logged with its traceback and counted like a crash, nothing is restarted; repeated
        failures degrade the owner (one bad unit never makes it "not ready")."""
        entry = self._tasks.get(name)
        if entry is None:
            entry = self._tasks[name] = _Task(name, _no_loop, finished=True, unit=True)
        self._record_failure(entry, exc)  # a streak ends after healthy_after_s without one:
        entry.started_s = time.monotonic()  # measured from the last failure
        asyncio.get_running_loop().call_later(
            self._healthy_after_s, self._clear_unit, entry, entry.total_failures
        )

    def _clear_unit(self, entry: _Task, total_failures: int) -> None:
        if entry.total_failures == total_failures and entry.failures:  # none since
            entry.failures = 0
            self._metrics.failing.labels(self.owner, entry.name).set(0)
            self._update_state()

    def record_success(self, name: str) -> None:
        """The unit ``name`` verifiably worked: its failure streak (if any) ends now (otherwise
        it ends ``healthy_after_s`` after its last failure)."""
        entry = self._tasks.get(name)
        if entry is not None and entry.failures:
            entry.failures = 0
            self._metrics.failing.labels(self.owner, name).set(0)
            self._update_state()

    def forget(self, name: str) -> None:
        """Stop reporting the unit ``name`` (a bot that left this worker)."""
        entry = self._tasks.get(name)
        if entry is not None and entry.task is None:
            del self._tasks[name]
            self._metrics.failing.labels(self.owner, name).set(0)
            self._update_state()

    # ----------------------------------------------------------------- reporting
    def statuses(self) -> list[TaskStatus]:
        """Every loop's status, by name."""
        return [
            TaskStatus(
                t.name,
                t.task is not None and not t.task.done() and not t.finished,
                t.failures,
                t.total_failures,
                t.last_error,
            )
            for t in sorted(self._tasks.values(), key=lambda t: t.name)
        ]

    @property
    def state(self) -> HealthState:
        """PASS, WARN (a loop failed ``degrade_after`` times in a row) or FAIL (``fail_after``)."""
        return self._state

    @property
    def reason(self) -> str:
        """Why the state is not PASS (empty when it is)."""
        bad = [t for t in self._tasks.values() if t.failures >= self._degrade_after]
        if not bad:
            return ""
        worst = max(bad, key=lambda t: t.failures)
        return f"loop {worst.name!r} failed {worst.failures} times in a row: {worst.last_error}"

    def health(self, base: Health) -> Health:
        """``base`` (the owner's own report) with the loops' state folded in."""
        checks = tuple(
            Check(
                base.service,
                f"loop:{s.name}",
                self._task_state(s.failures),
                s.failures,
                "failures in a row",
                s.last_error if s.failures else "",
            )
            for s in self.statuses()
        )
        state = self._state
        reason = base.reason
        if state is not HealthState.PASS:
            reason = f"{self.reason}; {base.reason}" if base.reason else self.reason
        return replace(
            base,
            ready=base.ready and state is not HealthState.FAIL,
            degraded=base.degraded or state is not HealthState.PASS,
            reason=reason,
            checks=base.checks + checks,
        )

    def _task_state(self, failures: int) -> HealthState:
        if failures >= self._fail_after:
            return HealthState.FAIL
        if failures >= self._degrade_after:
            return HealthState.WARN
        return HealthState.PASS

    def _update_state(self) -> None:
        states = [
            HealthState.WARN if t.unit and s is HealthState.FAIL else s
            for t in self._tasks.values()
            for s in (self._task_state(t.failures),)
        ]
        order = [HealthState.PASS, HealthState.WARN, HealthState.FAIL]
        state = max(states, key=order.index, default=HealthState.PASS)
        if state is self._state:
            return
        self._state = state
        if state is HealthState.PASS:
            _log.info("supervisor_recovered", owner=self.owner)
        else:
            _log.warning("supervisor_degraded", owner=self.owner, state=str(state),
                         reason=self.reason)  # fmt: skip
        if self._on_change is not None:
            self._on_change(state, self.reason)

    # ----------------------------------------------------------------- the loop around the loop
    async def _supervise(self, entry: _Task) -> None:
        while not self._closed:
            entry.started_s = time.monotonic()
            entry.runs += 1
            if entry.failures:  # clear the streak once this run has lasted healthy_after_s
                run = entry.runs
                asyncio.get_running_loop().call_later(
                    self._healthy_after_s, self._clear_streak, entry, run
                )
            entry.in_run = True
            try:
                await entry.fn()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the supervisor loop: log once, count, back off, restart
                self._record_failure(entry, exc)
            else:
                entry.in_run, entry.finished = False, True
                return
            delay_s = min(self._max_backoff_s, self._base_backoff_s * 2 ** (entry.failures - 1))
            await asyncio.sleep(delay_s * (0.5 + random.random()))  # noqa: S311  # jitter

    def _record_failure(self, entry: _Task, exc: Exception) -> None:
        entry.in_run = False
        if time.monotonic() - entry.started_s >= self._healthy_after_s:
            entry.failures = 0  # it had run healthily: a new streak starts
        entry.failures += 1
        entry.total_failures += 1
        entry.last_error = f"{type(exc).__name__}: {exc}"
        self._metrics.failures.labels(self.owner, entry.name, type(exc).__name__).inc()
        self._metrics.failing.labels(self.owner, entry.name).set(entry.failures)
        _log.error(
            "task_crashed",
            owner=self.owner,
            task=entry.name,
            failures=entry.failures,
            error_class=type(exc).__name__,
            error=str(exc),
            exc_info=exc,
        )
        self._update_state()

    def _clear_streak(self, entry: _Task, run: int) -> None:
        if entry.runs == run and entry.in_run and entry.failures and not self._closed:
            entry.failures = 0
            self._metrics.failing.labels(self.owner, entry.name).set(0)
            self._update_state()


async def _no_loop() -> None:
    """The placeholder loop of a unit reported with :meth:`Supervisor.record_failure`."""

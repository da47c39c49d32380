"""Prometheus metrics shared by every service.

One family per measurement, labelled by service: ``omega_service_operations_total``,
``omega_service_errors_total`` (by error class) and
``omega_service_operation_duration_seconds``. The families are created once per
``CollectorRegistry`` so that several registries (one per test, one per process) never clash.

Operations are counted and timed on every exchange call, so those two families are plain
numbers per (service, operation) (:class:`OperationStats`: a bisect into the bucket bounds and
three additions) that a collector turns into Prometheus samples when the registry is scraped;
prometheus_client's own ``Counter`` and ``Histogram`` took three locks and a Python loop over
the buckets per call. The exposition is the same: names, types, help, labels,
buckets and ``_created`` series (``tests/core/test_metrics.py`` compares it with
prometheus_client's). ``operations.labels(service, operation).inc()`` and
``latency.labels(...).observe(s)`` still work; errors stay a prometheus_client ``Counter``.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import prometheus_client.metrics as prometheus_metrics
from prometheus_client import REGISTRY, CollectorRegistry, Counter, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

OPERATIONS = "omega_service_operations"
OPERATIONS_HELP = "Operations completed by a service, successful or not."
DURATION = "omega_service_operation_duration_seconds"
DURATION_HELP = "Duration of service operations."
_BOUNDS = tuple(float(b) for b in LATENCY_BUCKETS_S)  # +Inf is the last bucket, past them
# the le labels as prometheus_client writes them (with its helper, which is untyped)
_LE: tuple[str, ...] = (*(floatToGoString(b) for b in _BOUNDS), "+Inf")  # type: ignore[no-untyped-call]


class OperationStats:
    """How many operations of one (service, operation) completed, and how long they took.

    A histogram as prometheus_client keeps one: a count per bucket (not cumulative; index
    ``len(LATENCY_BUCKETS_S)`` is +Inf) and the sum of the durations.
    """

    __slots__ = ("buckets", "count", "counted", "created_s", "lock", "sum_s", "timed")

    def __init__(self) -> None:
        self.lock = threading.Lock()  # cosmic's analyses record from worker threads
        self.count = 0.0  # omega_service_operations_total
        self.buckets = [0.0] * len(_LE)
        self.sum_s = 0.0
        self.created_s = time.time()
        self.counted = False  # series exist once asked for, as prometheus_client's children
        self.timed = False

    def record(self, elapsed_s: float) -> None:
        """One operation done in ``elapsed_s``: counted and timed.

        Without the lock (a third of the cost): for the series one event loop records into
        (the exchange service's calls). Series written from threads use :meth:`inc` and
        :meth:`observe`, which take it.
        """
        self.count += 1.0
        self.buckets[bisect_left(_BOUNDS, elapsed_s)] += 1.0  # the first bound >= elapsed_s
        self.sum_s += elapsed_s

    def inc(self, amount: float = 1.0) -> None:
        """Count ``amount`` operations (without timing them)."""
        if amount < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        with self.lock:
            self.count += amount

    def observe(self, amount: float) -> None:
        """Time one operation (without counting it)."""
        index = bisect_left(_BOUNDS, amount)
        with self.lock:
            self.buckets[index] += 1.0
            self.sum_s += amount


class _OperationFamilies:
    """The numbers of every (service, operation) in one registry, and their two collectors."""

    def __init__(self) -> None:
        self._stats: dict[tuple[str, str], OperationStats] = {}
        self._lock = threading.Lock()
        self.counter = _Collector(OPERATIONS, OPERATIONS_HELP, "counter", self._counter_samples)
        self.histogram = _Collector(DURATION, DURATION_HELP, "histogram", self._duration_samples)

    def stats(self, service: str, operation: str) -> OperationStats:
        """The numbers of one (service, operation), made on first use."""
        key = (service, operation)
        found = self._stats.get(key)
        if found is None:
            with self._lock:
                found = self._stats.setdefault(key, OperationStats())
        return found

    def _readings(
        self,
    ) -> Iterator[tuple[dict[str, str], OperationStats, float, list[float], float]]:
        for (service, operation), stats in list(self._stats.items()):
            with stats.lock:  # a consistent reading of what inc() and observe() write
                count, buckets, sum_s = stats.count, list(stats.buckets), stats.sum_s
            yield {"service": service, "operation": operation}, stats, count, buckets, sum_s

    def _counter_samples(self, metric: Metric, created: bool) -> None:
        for labels, stats, count, _, _ in self._readings():
            if stats.counted:
                metric.add_sample(f"{OPERATIONS}_total", labels, count)
                if created:
                    metric.add_sample(f"{OPERATIONS}_created", labels, stats.created_s)

    def _duration_samples(self, metric: Metric, created: bool) -> None:
        for labels, stats, _, buckets, sum_s in self._readings():
            if not stats.timed:
                continue
            cumulative = 0.0
            for le, in_bucket in zip(_LE, buckets, strict=True):
                cumulative += in_bucket
                metric.add_sample(f"{DURATION}_bucket", {**labels, "le": le}, cumulative)
            metric.add_sample(f"{DURATION}_count", labels, cumulative)
            metric.add_sample(f"{DURATION}_sum", labels, sum_s)
            if created:
                metric.add_sample(f"{DURATION}_created", labels, stats.created_s)


class _Collector:
    """One family, its samples read from :class:`OperationStats` when the registry is scraped."""

    def __init__(
        self, name: str, documentation: str, kind: str, fill: Callable[[Metric, bool], None]
    ) -> None:
        self._name, self._documentation, self._kind, self._fill = name, documentation, kind, fill

    def describe(self) -> Iterator[Metric]:
        """The family, empty (the registry checks its names against other collectors')."""
        yield Metric(self._name, self._documentation, self._kind)

    def collect(self) -> Iterator[Metric]:
        """The family as prometheus_client's own Counter or Histogram would expose it."""
        metric = Metric(self._name, self._documentation, self._kind)
        self._fill(metric, prometheus_metrics._use_created)  # honours disable_created_metrics()
        yield metric


class OperationCounter:
    """``omega_service_operations_total``: ``labels(service, operation).inc()``."""

    def __init__(self, families: _OperationFamilies) -> None:
        self._families = families

    def labels(self, service: str, operation: str) -> OperationStats:
        """The series of one (service, operation); ``inc()`` counts."""
        stats = self._families.stats(service, operation)
        stats.counted = True
        return stats


class OperationLatency:
    """``omega_service_operation_duration_seconds``: ``labels(service, operation).observe(s)``."""

    def __init__(self, families: _OperationFamilies) -> None:
        self._families = families

    def labels(self, service: str, operation: str) -> OperationStats:
        """The series of one (service, operation); ``observe(seconds)`` times."""
        stats = self._families.stats(service, operation)
        stats.timed = True
        return stats


@dataclass(frozen=True)
class ServiceMetrics:
    """The metric families every service records into."""

    operations: OperationCounter
    errors: Counter
    latency: OperationLatency
    registry: CollectorRegistry
    _families: _OperationFamilies

    def operation(self, service: str, operation: str) -> OperationStats:
        """Both series of one (service, operation): ``record(elapsed_s)`` counts and times one
        (what a hot path looks up once, then calls per operation)."""
        stats = self._families.stats(service, operation)
        stats.counted = stats.timed = True
        return stats


_families: dict[int, ServiceMetrics] = {}


def service_metrics(registry: CollectorRegistry | None = None) -> ServiceMetrics:
    """The service metric families registered in ``registry`` (the process default if None)."""
    reg = registry if registry is not None else REGISTRY
    found = _families.get(id(reg))
    if found is not None and found.registry is reg:
        return found
    operations = _OperationFamilies()
    reg.register(operations.counter)  # the order prometheus_client's families had
    errors = Counter(
        "omega_service_errors",
        "Errors handled by a service, by error class and whether they are transient.",
        ["service", "error_class", "transient"],
        registry=reg,
    )
    reg.register(operations.histogram)
    families = ServiceMetrics(
        operations=OperationCounter(operations),
        errors=errors,
        latency=OperationLatency(operations),
        registry=reg,
        _families=operations,
    )
    _families[id(reg)] = families
    return families


def render_prometheus(registry: CollectorRegistry | None = None) -> bytes:
    """The registry in Prometheus text exposition format."""
    return generate_latest(registry if registry is not None else REGISTRY)

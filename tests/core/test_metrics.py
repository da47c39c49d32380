"""The operation families are plain numbers read at scrape time: their exposition is exactly
what prometheus_client's own Counter and Histogram print for the same operations."""

from __future__ import annotations

import re
import threading

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from omegafarm.core.metrics import LATENCY_BUCKETS_S, render_prometheus, service_metrics

# durations on, between and past the bucket bounds (0.0005 and 10 are bounds themselves)
DURATIONS_S = (0.0001, 0.0005, 0.0007, 0.003, 0.003, 0.2, 1.0, 9.9, 10.0, 11.0)
_CREATED = re.compile(rb"^(omega_service_\w+_created\{[^}]*\}) \S+$", re.MULTILINE)


def _reference(durations_s: tuple[float, ...]) -> bytes:
    """What prometheus_client's Counter and Histogram expose for the same calls."""
    registry = CollectorRegistry()
    operations = Counter(
        "omega_service_operations",
        "Operations completed by a service, successful or not.",
        ["service", "operation"],
        registry=registry,
    )
    Counter(
        "omega_service_errors",
        "Errors handled by a service, by error class and whether they are transient.",
        ["service", "error_class", "transient"],
        registry=registry,
    )
    latency = Histogram(
        "omega_service_operation_duration_seconds",
        "Duration of service operations.",
        ["service", "operation"],
        buckets=LATENCY_BUCKETS_S,
        registry=registry,
    )
    for operation in ("fetch_ticker", "create_order"):
        for elapsed_s in durations_s:
            latency.labels("exchange", operation).observe(elapsed_s)
            operations.labels("exchange", operation).inc()
    return generate_latest(registry)


def _without_created_values(text: bytes) -> bytes:
    return _CREATED.sub(rb"\1 <created>", text)


def test_recorded_operations_expose_as_prometheus_clients_counter_and_histogram() -> None:
    registry = CollectorRegistry()
    metrics = service_metrics(registry)
    ticker = metrics.operation("exchange", "fetch_ticker")
    for elapsed_s in DURATIONS_S:  # the hot path: one record() per call
        ticker.record(elapsed_s)
    for elapsed_s in DURATIONS_S:  # the older path: a child per family
        metrics.latency.labels("exchange", "create_order").observe(elapsed_s)
        metrics.operations.labels("exchange", "create_order").inc()
    ours = render_prometheus(registry)
    assert _without_created_values(ours) == _without_created_values(_reference(DURATIONS_S))
    bucket = b'omega_service_operation_duration_seconds_bucket{le="%s",operation="fetch_ticker"'
    assert bucket % b"0.0005" + b',service="exchange"} 2.0' in ours  # a bound is in its bucket
    assert bucket % b"+Inf" + b',service="exchange"} 10.0' in ours


def test_operation_values_after_n_calls() -> None:
    registry = CollectorRegistry()
    stats = service_metrics(registry).operation("exchange", "fetch_ticker")
    for _ in range(7):
        stats.record(0.002)
    labels = {"service": "exchange", "operation": "fetch_ticker"}
    value = registry.get_sample_value
    assert value("omega_service_operations_total", labels) == 7
    assert value("omega_service_operation_duration_seconds_count", labels) == 7
    assert value("omega_service_operation_duration_seconds_sum", labels) == pytest.approx(0.014)
    assert value("omega_service_operation_duration_seconds_bucket", {**labels, "le": "0.001"}) == 0
    assert value("omega_service_operation_duration_seconds_bucket", {**labels, "le": "0.0025"}) == 7


def test_counts_and_times_from_several_threads_are_all_kept() -> None:
    registry = CollectorRegistry()
    metrics = service_metrics(registry)

    def work() -> None:  # as cosmic's analyses do, in worker threads
        for _ in range(20_000):
            metrics.latency.labels("cosmic", "analyse").observe(0.001)
            metrics.operations.labels("cosmic", "analyse").inc()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    labels = {"service": "cosmic", "operation": "analyse"}
    assert registry.get_sample_value("omega_service_operations_total", labels) == 80_000
    bucket = {**labels, "le": "0.001"}
    assert registry.get_sample_value("omega_service_operation_duration_seconds_bucket", bucket) == (
        80_000
    )


def test_a_second_family_of_the_same_name_is_refused() -> None:
    registry = CollectorRegistry()
    service_metrics(registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Counter("omega_service_operations", "again", registry=registry)


def test_counting_a_negative_amount_is_refused() -> None:
    counter = service_metrics(CollectorRegistry()).operations.labels("a", "b")
    with pytest.raises(ValueError, match="non-negative"):
        counter.inc(-1)

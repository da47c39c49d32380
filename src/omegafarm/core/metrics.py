"""Prometheus metrics shared by every service.

One family per measurement, labelled by service: ``omega_service_operations_total``,
``omega_service_errors_total`` (by error class) and
``omega_service_operation_duration_seconds``. The families are created once per
``CollectorRegistry`` so that several registries (one per test, one per process) never clash.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


@dataclass(frozen=True)
class ServiceMetrics:
    """The metric families every service records into."""

    operations: Counter
    errors: Counter
    latency: Histogram
    registry: CollectorRegistry


_families: dict[int, ServiceMetrics] = {}


def service_metrics(registry: CollectorRegistry | None = None) -> ServiceMetrics:
    """The service metric families registered in ``registry`` (the process default if None)."""
    reg = registry if registry is not None else REGISTRY
    found = _families.get(id(reg))
    if found is not None and found.registry is reg:
        return found
    families = ServiceMetrics(
        operations=Counter(
            "omega_service_operations",
            "Operations completed by a service, successful or not.",
            ["service", "operation"],
            registry=reg,
        ),
        errors=Counter(
            "omega_service_errors",
            "Errors handled by a service, by error class and whether they are transient.",
            ["service", "error_class", "transient"],
            registry=reg,
        ),
        latency=Histogram(
            "omega_service_operation_duration_seconds",
            "Duration of service operations.",
            ["service", "operation"],
            buckets=LATENCY_BUCKETS_S,
            registry=reg,
        ),
        registry=reg,
    )
    _families[id(reg)] = families
    return families


def render_prometheus(registry: CollectorRegistry | None = None) -> bytes:
    """The registry in Prometheus text exposition format."""
    return generate_latest(registry if registry is not None else REGISTRY)

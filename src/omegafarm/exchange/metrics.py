"""Prometheus view of the exchange rate limit: how much of each bucket's budget is spent.

``omega_exchange_rate_limit_used_ratio{exchange, bucket}`` is computed when Prometheus scrapes
(0 = idle, 1 = callers must wait). One collector per registry serves every ExchangeService
registered in it, so several services (or test instances) never clash on the metric name.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric

METRIC = "omega_exchange_rate_limit_used_ratio"


class LimitReporter(Protocol):
    """What the collector asks a service."""

    @property
    def exchange_id(self) -> str:
        """The exchange the service talks to."""
        ...

    def rate_limit_usage(self) -> dict[str, float]:
        """Share in use of each bucket."""
        ...


class _LimitCollector:
    def __init__(self) -> None:
        self.services: weakref.WeakSet[LimitReporter] = weakref.WeakSet()

    def collect(self) -> Iterator[Metric]:
        """The gauge, computed now (Prometheus calls this on every scrape)."""
        family = GaugeMetricFamily(
            METRIC, "Share of an exchange rate-limit bucket in use.", labels=["exchange", "bucket"]
        )
        for service in list(self.services):
            for bucket, used in service.rate_limit_usage().items():
                family.add_metric([service.exchange_id, bucket], used)
        yield family


_collectors: dict[int, tuple[CollectorRegistry, _LimitCollector]] = {}


def report_rate_limit(service: LimitReporter, registry: CollectorRegistry) -> None:
    """Include ``service``'s buckets in ``registry``'s rate-limit gauge."""
    found = _collectors.get(id(registry))
    if found is None or found[0] is not registry:
        collector = _LimitCollector()
        registry.register(collector)
        found = (registry, collector)
        _collectors[id(registry)] = found
    found[1].services.add(service)

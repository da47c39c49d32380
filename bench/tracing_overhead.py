"""What one traced order step costs: a span plus ``inject`` into a Redis message dict.

Measures, in the same run, the per-step cost with ``exporter = "none"`` (the default, the
no-op provider) and with a recording SDK provider (batch processor, an exporter that drops
the batches: the cost inside the process, without I/O). Run: ``python bench/tracing_overhead.py``.
The last line is the JSON summary; ``ours`` is the no-op cost, ``baseline`` the recording one.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

from omegafarm.core.tracing import configure_tracing, extract, inject, shutdown_tracing, start_span


class _Drop(SpanExporter):
    """Accepts every batch and does nothing with it."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _step(i: int) -> dict[str, object]:
    """A bot's send: span, attributes, inject; then the gateway's extract and child span."""
    attributes = {"omega.bot_id": "b1", "omega.command": "place", "omega.client_order_id": str(i)}
    with start_span("bot place", kind=SpanKind.PRODUCER, attributes=attributes):
        message = inject({"kind": "place", "cid": str(i)})
    with start_span("gateway place", kind=SpanKind.CONSUMER, context=extract(message)):
        pass
    return message


def _bare_step(i: int) -> dict[str, object]:
    """The same step without tracing: what the traced one adds to."""
    attributes = {"omega.bot_id": "b1", "omega.command": "place", "omega.client_order_id": str(i)}
    message: dict[str, object] = {"kind": "place", "cid": str(i), **attributes}
    return message


def _per_step_ns(n: int, rounds: int, step: Callable[[int], object] | None = None) -> float:
    run = step or _step
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for i in range(n):
            run(i)
        best = min(best, (time.perf_counter_ns() - start) / n)
    return best


def main(argv: list[str]) -> None:
    """Print the per-step cost of both providers and the JSON summary."""
    n = int(argv[1]) if len(argv) > 1 else 20_000
    rounds = int(argv[2]) if len(argv) > 2 else 5
    bare_ns = _per_step_ns(n, rounds, _bare_step)
    configure_tracing("none")
    none_ns = _per_step_ns(n, rounds)
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = configure_tracing("console")  # replaced below by a processor that drops
    assert isinstance(provider, TracerProvider)
    provider._active_span_processor._span_processors = ()  # type: ignore[attr-defined]  # bench only: drop the console processor
    provider.add_span_processor(BatchSpanProcessor(_Drop()))
    sdk_ns = _per_step_ns(n, rounds)
    shutdown_tracing()
    print(f"untraced step:      {bare_ns / 1000:8.2f} us per step")
    print(f"exporter none:      {none_ns / 1000:8.2f} us per step (2 spans + inject + extract)")
    print(f"recording SDK:      {sdk_ns / 1000:8.2f} us per step")
    summary = {
        "bench": "tracing_overhead",
        "ours": round(none_ns / 1000, 3),
        "baseline": round(sdk_ns / 1000, 3),
        "baseline_name": "the same step with a recording OpenTelemetry SDK provider",
        "unit": "us/step",
        "ratio": round(sdk_ns / none_ns, 2),
        "better": "lower",
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main(sys.argv)

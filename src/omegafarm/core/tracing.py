"""OpenTelemetry tracing: one provider per process, W3C trace context carried in plain dicts.

An order's trace runs API -> bot -> gateway -> Exchange Service -> ccxt request. Between
processes the context travels inside Redis messages: :func:`inject` writes ``traceparent``
(and ``tracestate``) into a message dict, :func:`extract` reads it back on the other side.

:func:`configure_tracing` is called once at the entry point. It keeps its provider in this
module instead of OpenTelemetry's global (which can be set only once per process), so tests
and embedded runs may reconfigure it; :func:`tracer` always answers from the current one.
With ``exporter="none"`` (the default) the provider is OpenTelemetry's no-op one (the SDK is
not imported at all: a CLI command that records nothing does not pay for it) and
:func:`start_span`, :func:`inject` and :func:`extract` return at once: nothing is recorded and
no context is written into messages (bench/tracing_overhead.py measures the cost).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pydantic import BaseModel, ConfigDict, Field

from omegafarm.core.errors import ConfigError

if TYPE_CHECKING:  # the SDK is imported when a provider is installed, not with this module
    from opentelemetry.sdk.trace import SpanProcessor
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

ExporterName = Literal["none", "console", "otlp"]
M = TypeVar("M", bound=MutableMapping[str, Any])
TRACEPARENT = "traceparent"  # the W3C header name, also the key inside Redis messages
TRACESTATE = "tracestate"

_propagator = TraceContextTextMapPropagator()
_provider: trace.TracerProvider = trace.NoOpTracerProvider()
_recording = False  # True while an SDK provider is installed


class _Switch:
    """Whether spans are recorded, as an attribute: a per-request hot path reads
    ``RECORDING.on`` (a call to :func:`is_recording` costs more than the rest of its check)."""

    __slots__ = ("on",)

    def __init__(self) -> None:
        self.on = False


RECORDING = _Switch()  # follows _recording
_NOT_RECORDING: AbstractContextManager[Span] = nullcontext(trace.INVALID_SPAN)
_tracers: dict[str, trace.Tracer] = {}

__all__ = [
    "RECORDING",
    "TRACEPARENT",
    "TracingSettings",
    "capture_spans",
    "configure_from_settings",
    "configure_tracing",
    "current_provider",
    "extract",
    "inject",
    "is_recording",
    "shutdown_tracing",
    "start_span",
    "tracer",
]


class TracingSettings(BaseModel):
    """The ``tracing`` section: which exporter, where to, and this process's service name."""

    model_config = ConfigDict(extra="forbid")

    exporter: ExporterName = "none"
    endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP traces URL, e.g. http://127.0.0.1:4318/v1/traces "
        "(default: the exporter's own, from OTEL_EXPORTER_OTLP_* variables)",
    )
    service_name: str = Field(default="omega", min_length=1, max_length=100)


def configure_tracing(
    exporter: ExporterName = "none",
    endpoint: str | None = None,
    service_name: str = "omega",
    *,
    span_exporter: SpanExporter | None = None,
) -> trace.TracerProvider:
    """Install this process's tracer provider (replacing any earlier one) and return it.

    ``span_exporter`` replaces the exporter named by ``exporter`` and is called synchronously
    at the end of each span (tests pass an ``InMemorySpanExporter``).
    """
    global _provider, _recording
    shutdown_tracing()
    if exporter == "none" and span_exporter is None:
        return _provider  # the no-op provider: the SDK is not even imported
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    processor: SpanProcessor
    if span_exporter is not None:
        processor = SimpleSpanProcessor(span_exporter)
    else:
        processor = BatchSpanProcessor(_build_exporter(exporter, endpoint))
    provider.add_span_processor(processor)
    _provider, _recording = provider, True
    RECORDING.on = True
    return provider


def configure_from_settings(settings: TracingSettings) -> trace.TracerProvider:
    """:func:`configure_tracing` from the ``tracing`` settings section."""
    return configure_tracing(settings.exporter, settings.endpoint, settings.service_name)


def _build_exporter(exporter: ExporterName, endpoint: str | None) -> SpanExporter:
    if exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(out=sys.stderr)  # stdout stays the command's own output
    if exporter == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:  # an optional extra: say which package is missing
            raise ConfigError(
                "tracing.exporter = 'otlp' needs the package opentelemetry-exporter-otlp-proto-http"
            ) from exc
        return OTLPSpanExporter(endpoint=endpoint)
    raise ConfigError(f"tracing.exporter {exporter!r}: choose 'none', 'console' or 'otlp'")


@contextmanager
def capture_spans(service_name: str = "omega-test") -> Iterator[InMemorySpanExporter]:
    """Record every span in memory while inside (tests, like ``structlog.testing``)."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    configure_tracing("none", service_name=service_name, span_exporter=exporter)
    try:
        yield exporter
    finally:
        shutdown_tracing()


def shutdown_tracing() -> None:
    """Flush and close the current provider and fall back to the no-op one (idempotent)."""
    global _provider, _recording
    old, _provider, _recording = _provider, trace.NoOpTracerProvider(), False
    RECORDING.on = False
    _tracers.clear()
    if not isinstance(old, trace.NoOpTracerProvider):  # an SDK provider: flush and close it
        shutdown = getattr(old, "shutdown", None)
        if shutdown is not None:
            shutdown()


def is_recording() -> bool:
    """Whether spans are recorded (an SDK provider is installed): hot paths skip building
    span names and attributes when they are not."""
    return _recording


def current_provider() -> trace.TracerProvider:
    """The provider :func:`configure_tracing` installed (the no-op one by default)."""
    return _provider


def tracer(name: str) -> trace.Tracer:
    """The tracer called ``name`` (a module name) of the current provider."""
    found = _tracers.get(name)
    if found is None:
        found = _tracers[name] = _provider.get_tracer(name)
    return found


def start_span(
    name: str,
    *,
    tracer_name: str = "omegafarm",
    kind: SpanKind = SpanKind.INTERNAL,
    context: Context | None = None,
    attributes: Mapping[str, str | int | float | bool | None] | None = None,
) -> AbstractContextManager[Span]:
    """A current span that, on an exception, records only its class (messages may hold secrets).

    Attributes whose value is ``None`` are left out. With tracing off (``none``) this is a
    shared null context yielding the invalid span: no context switch, nothing allocated.
    """
    if not _recording:
        return _NOT_RECORDING
    return _span(name, tracer_name, kind, context, attributes or {})


@contextmanager
def _span(
    name: str,
    tracer_name: str,
    kind: SpanKind,
    context: Context | None,
    attributes: Mapping[str, str | int | float | bool | None],
) -> Iterator[Span]:
    attrs = {k: v for k, v in attributes.items() if v is not None}
    with tracer(tracer_name).start_as_current_span(
        name,
        context=context,
        kind=kind,
        attributes=attrs,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except Exception as exc:
            if span.is_recording():
                span.set_attribute("error.type", type(exc).__qualname__)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise


def inject(carrier: M, context: Context | None = None) -> M:
    """Write the current (or given) trace context into ``carrier`` and return it."""
    if not _recording:
        return carrier
    headers: dict[str, str] = {}
    _propagator.inject(headers, context=context)
    carrier.update(headers)
    return carrier


def extract(carrier: Mapping[str, object]) -> Context:
    """The trace context written into ``carrier`` by :func:`inject` (empty if none)."""
    if not _recording:
        return Context()
    headers = {
        key: value
        for key in (TRACEPARENT, TRACESTATE)
        if isinstance(value := carrier.get(key), str)
    }
    return _propagator.extract(headers)

"""core.tracing: W3C context through plain dicts, exporters, the no-op default, error spans."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pydantic
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from omegafarm.core.tracing import (
    TRACEPARENT,
    TracingSettings,
    capture_spans,
    configure_from_settings,
    configure_tracing,
    current_provider,
    extract,
    inject,
    shutdown_tracing,
    start_span,
    tracer,
)


async def test_context_injected_into_a_dict_continues_the_same_trace_in_another_task() -> None:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def consumer() -> None:
        message = await queue.get()
        with start_span("consume", kind=SpanKind.CONSUMER, context=extract(message)):
            pass

    with capture_spans() as spans:
        task = asyncio.create_task(consumer())
        with start_span("produce", kind=SpanKind.PRODUCER) as producer:
            await queue.put(inject({"kind": "place", "cid": "b1-1"}))
        await asyncio.wait_for(task, timeout=5)
        finished = {s.name: s for s in spans.get_finished_spans()}

    produce, consume = finished["produce"], finished["consume"]
    assert consume.context.trace_id == produce.context.trace_id
    assert consume.parent is not None
    assert consume.parent.span_id == producer.get_span_context().span_id
    assert consume.context.span_id != produce.context.span_id


async def test_the_message_keeps_its_fields_and_gains_a_w3c_traceparent() -> None:
    with capture_spans(), start_span("produce") as span:
        message = inject({"kind": "cancel"})
    ctx = span.get_span_context()
    assert message["kind"] == "cancel"
    version, trace_id, span_id, flags = str(message[TRACEPARENT]).split("-")
    assert (version, trace_id, span_id) == ("00", f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}")
    assert int(flags, 16) & 1  # sampled
    assert json.loads(json.dumps(message)) == message  # plain strings: any codec carries it


async def test_with_exporter_none_nothing_is_recorded_and_nothing_injected() -> None:
    exporter = InMemorySpanExporter()
    configure_tracing("console", span_exporter=exporter)
    provider = configure_tracing("none")  # replaces the recording provider
    with start_span("ignored") as span:
        message = inject({"kind": "place"})
    assert not span.is_recording()
    assert TRACEPARENT not in message
    assert exporter.get_finished_spans() == ()
    assert isinstance(provider, trace.NoOpTracerProvider)
    assert current_provider() is provider


async def test_extract_of_a_message_without_or_with_a_garbled_traceparent_starts_a_new_trace() -> (
    None
):
    with capture_spans() as spans:
        for carrier in ({}, {TRACEPARENT: "garbage"}, {TRACEPARENT: 17}):
            with start_span("root", context=extract(carrier)):
                pass
        roots = spans.get_finished_spans()
    assert [s.parent for s in roots] == [None, None, None]
    assert len({s.context.trace_id for s in roots}) == 3


async def test_a_failing_span_records_the_error_class_but_never_its_message() -> None:
    with capture_spans() as spans:
        with pytest.raises(RuntimeError), start_span("fails"):
            raise RuntimeError("apiKey=sk-live-SECRET in a URL")
        (span,) = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "RuntimeError"
    assert span.attributes is not None
    assert span.attributes["error.type"] == "RuntimeError"
    assert "SECRET" not in repr(dict(span.attributes)) + repr(span.events)


async def test_none_valued_attributes_are_left_out() -> None:
    with capture_spans() as spans:
        with start_span("s", attributes={"a": "x", "b": None, "c": 2}):
            pass
        (span,) = spans.get_finished_spans()
    assert dict(span.attributes or {}) == {"a": "x", "c": 2}


async def test_console_exporter_prints_the_span_to_stderr_when_the_provider_shuts_down(
    capsys: pytest.CaptureFixture[str],
) -> None:
    provider = configure_from_settings(TracingSettings(exporter="console", service_name="gw"))
    assert isinstance(provider, TracerProvider)
    with tracer("omegafarm.test").start_as_current_span("printed-span"):
        pass
    shutdown_tracing()
    out = capsys.readouterr().err
    assert '"name": "printed-span"' in out
    assert '"service.name": "gw"' in out


async def test_otlp_exporter_is_built_with_the_configured_endpoint() -> None:
    settings = TracingSettings(exporter="otlp", endpoint="http://127.0.0.1:9/v1/traces")
    provider = configure_from_settings(settings)
    try:
        assert isinstance(provider, TracerProvider)
        processor = provider._active_span_processor._span_processors[0]  # type: ignore[attr-defined]  # SDK internals, read only
        assert processor._batch_processor._exporter._endpoint == settings.endpoint
    finally:
        shutdown_tracing()  # no span was made: nothing is sent to the closed port
    assert isinstance(current_provider(), trace.NoOpTracerProvider)


def test_settings_reject_unknown_keys_and_exporters() -> None:
    assert TracingSettings().exporter == "none"
    with pytest.raises(pydantic.ValidationError):
        TracingSettings.model_validate({"exporter": "zipkin"})
    with pytest.raises(pydantic.ValidationError):
        TracingSettings.model_validate({"exporter": "otlp", "headers": "x"})


def test_tracer_is_cached_per_provider() -> None:
    with capture_spans():
        first = tracer("omegafarm.x")
        assert tracer("omegafarm.x") is first
    assert tracer("omegafarm.x") is not first  # the provider changed

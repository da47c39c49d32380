"""An order's trace across the farm: bot -> Redis stream -> gateway -> Exchange Service -> ccxt.

Real parts throughout: the embedded Redis, the gateway and worker, the paper exchange or real
ccxt talking to a loopback Binance; spans are recorded by the SDK's InMemorySpanExporter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from omegafarm.bots.gateway import Gateway
from omegafarm.bots.gateway_partitions import command_stream
from omegafarm.bots.service import register_bots
from omegafarm.bots.worker import Worker
from omegafarm.core.tracing import capture_spans, configure_tracing, inject, start_span
from omegafarm.store import RedisClient
from tests.exchange._binance import MiniBinance, btc_usdt_market
from tests.exchange._replay import DUMMY_API_KEY, DUMMY_SECRET, replay_service
from tests.integration._farm import bots, farm_settings, paper_exchange, wait_for


async def _true(value: bool) -> bool:
    return value


def _named(spans: Sequence[ReadableSpan], prefix: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name.startswith(prefix)]


def _parent_id(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


async def test_a_bot_order_on_the_paper_farm_is_one_trace_bot_gateway_exchange(
    redis_client: RedisClient, tmp_path: Path
) -> None:
    exchange = paper_exchange(tmp_path)
    await exchange.initialize()
    specs = bots(2)
    await register_bots(redis_client, specs)
    settings = farm_settings()
    gateway = Gateway(redis_client, exchange, settings, {(b.symbol, b.timeframe) for b in specs})
    worker = Worker(redis_client, settings)
    stop = asyncio.Event()
    with capture_spans("farm") as spans:
        tasks = [asyncio.create_task(gateway.run(stop)), asyncio.create_task(worker.run(stop))]
        try:

            async def placed() -> bool:
                return bool(_named(spans.get_finished_spans(), "ExchangeService place"))

            await wait_for(placed, 20, "a bot's order placed through the gateway")
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            await exchange.shutdown()
        finished = spans.get_finished_spans()

    call = _named(finished, "ExchangeService place")[0]
    by_id = {s.context.span_id: s for s in finished}
    gw = by_id[_parent_id(call) or 0]
    bot = by_id[_parent_id(gw) or 0]
    assert (bot.name, gw.name) == ("bot place", "gateway place")
    assert (bot.kind, gw.kind) == (SpanKind.PRODUCER, SpanKind.CONSUMER)
    assert {bot.context.trace_id, gw.context.trace_id} == {call.context.trace_id}
    assert bot.attributes is not None and call.attributes is not None
    assert bot.attributes["omega.bot_id"] in {s.id for s in specs}
    assert call.attributes["omega.client_order_id"] == bot.attributes["omega.client_order_id"]
    assert call.attributes["omega.exchange.id"] == "paper"
    assert bot.resource.attributes["service.name"] == "farm"


async def test_a_command_on_a_ccxt_exchange_is_traced_down_to_the_rest_request_without_secrets(
    redis_client: RedisClient, tmp_path: Path
) -> None:
    venue = MiniBinance()
    command = {
        "kind": "place", "cid": "b7-0001", "symbol": "BTC/USDT", "side": "buy",
        "type": "limit", "amount": "0.01", "price": "50000", "bot_id": "b7", "token": 1,
    }  # fmt: skip
    markets = {"BTC/USDT": btc_usdt_market()}
    async with (
        venue.server,
        replay_service("binance", venue.server, tmp_path, markets=markets) as ex,
    ):
        gateway = Gateway(redis_client, ex, farm_settings(), set())
        stop = asyncio.Event()
        with capture_spans() as spans:
            task = asyncio.create_task(gateway.run(stop))
            try:
                with start_span("bot place", kind=SpanKind.PRODUCER) as sent:
                    await redis_client.stream_add(
                        await command_stream(redis_client, str(command["bot_id"])),
                        inject(dict(command)),
                    )
                await wait_for(lambda: _true(gateway.commands_done == 1), 10, "command executed")
            finally:
                stop.set()
                await task
            finished = spans.get_finished_spans()

    assert venue.created_client_ids == ["b7-0001"]
    trace_id = sent.get_span_context().trace_id
    (gw,) = _named(finished, "gateway place")
    (call,) = _named(finished, "ExchangeService place")
    (rest,) = [s for s in finished if s.name.startswith("ccxt POST")]
    assert _parent_id(gw) == sent.get_span_context().span_id
    assert _parent_id(call) == gw.context.span_id
    assert _parent_id(rest) == call.context.span_id
    assert {gw.context.trace_id, call.context.trace_id, rest.context.trace_id} == {trace_id}
    assert rest.kind is SpanKind.CLIENT
    attributes = dict(rest.attributes or {})
    cost = attributes.pop("omega.ccxt.cost")
    assert isinstance(cost, float) and cost > 0
    assert attributes == {
        "omega.exchange.id": "binance",
        "http.request.method": "POST",
        "url.path": "private/order",
    }
    shown = repr([(s.name, dict(s.attributes or {}), s.events, s.status) for s in finished])
    for secret in (DUMMY_API_KEY, DUMMY_SECRET, "dummy-passphrase", "signature"):
        assert secret not in shown


async def test_with_exporter_none_a_gateway_command_records_nothing_and_still_trades(
    redis_client: RedisClient, tmp_path: Path
) -> None:
    venue = MiniBinance()
    command = {
        "kind": "place", "cid": "b8-0001", "symbol": "BTC/USDT", "side": "sell",
        "type": "limit", "amount": "0.01", "price": "60000", "bot_id": "b8", "token": 1,
    }  # fmt: skip
    markets = {"BTC/USDT": btc_usdt_market()}
    with capture_spans() as spans:
        configure_tracing("none")  # what `tracing.exporter = "none"` does at the entry point
        async with (
            venue.server,
            replay_service("binance", venue.server, tmp_path, markets=markets) as ex,
        ):
            gateway = Gateway(redis_client, ex, farm_settings(), set())
            stop = asyncio.Event()
            task = asyncio.create_task(gateway.run(stop))
            try:
                with start_span("bot place") as sent:
                    await redis_client.stream_add(
                        await command_stream(redis_client, str(command["bot_id"])),
                        inject(dict(command)),
                    )
                await wait_for(lambda: _true(gateway.commands_done == 1), 10, "command executed")
            finally:
                stop.set()
                await task
        assert spans.get_finished_spans() == ()
    assert not sent.is_recording()
    assert venue.created_client_ids == ["b8-0001"]

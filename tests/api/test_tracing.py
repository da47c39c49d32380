"""API tracing: each /api request is a SERVER span that continues a caller's traceparent; an
order route's Exchange Service call is its child; bot stop is traced by route template; tokens
never reach span attributes. Real farm: Redis, paper exchange, bot farm, API on loopback."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.trace import SpanKind, StatusCode

from omegafarm.core.tracing import capture_spans
from tests.api.test_bot_routes import start_bot_farm

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


async def test_order_and_bot_routes_are_server_spans_in_the_callers_trace(
    tmp_path: Path, redis_url: str
) -> None:
    with capture_spans("api") as spans:
        farm = await start_bot_farm(tmp_path, redis_url)
        try:
            async with farm.client("trader") as client:
                placed = await client.post(
                    "/api/v1/exchange/orders",
                    json={"symbol": "BTC/USDT", "type": "market", "side": "buy", "amount": "0.001"},
                    headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"},
                )
                stopped = await client.post("/api/v1/bots/sma_btc/stop")
                missing = await client.post("/api/v1/bots/nobody/stop")
                health = await client.get("/health")
        finally:
            await farm.registry.stop_all()
        finished = spans.get_finished_spans()

    assert (placed.status_code, stopped.status_code, health.status_code) == (201, 200, 200)
    servers = [s for s in finished if s.kind is SpanKind.SERVER]
    by_name = {s.name: s for s in servers}
    order = by_name["HTTP POST /api/v1/exchange/orders"]
    assert order.context.trace_id == int(CALLER_TRACE, 16)
    assert order.parent is not None and order.parent.span_id == int(CALLER_SPAN, 16)
    assert dict(order.attributes or {}) == {
        "http.request.method": "POST",
        "http.response.status_code": 201,
        "http.route": "/api/v1/exchange/orders",
    }
    (call,) = [s for s in finished if s.name == "ExchangeService create_order"]
    assert call.parent is not None and call.parent.span_id == order.context.span_id
    assert (call.attributes or {})["omega.exchange.id"] == "paper"
    stops = [s for s in servers if s.name == "HTTP POST /api/v1/bots/{bot_id}/stop"]
    assert sorted((s.attributes or {})["http.response.status_code"] for s in stops) == [200, 404]
    assert all(s.context.trace_id != order.context.trace_id for s in stops)  # new traces
    assert missing.status_code == 404
    assert not any("/health" in s.name for s in finished)  # only /api/... is traced
    assert all(s.status.status_code is not StatusCode.ERROR for s in servers)
    shown = repr([(s.name, dict(s.attributes or {})) for s in finished])
    assert not any(token in shown for token in farm.tokens.values())

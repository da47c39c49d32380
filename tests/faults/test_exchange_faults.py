"""Injected exchange faults: the right retry decision, never a duplicate order, clear errors.

Real ccxt talks HTTP to a loopback server that misbehaves on purpose: answers later than the
client's timeout (with or without booking the order), 429 with Retry-After, 5xx, malformed
JSON. The service's sleep is replaced by a recorder so backoff waits cost no wall time.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from omegafarm.exchange import (
    AuthenticationError,
    ExchangeResponseError,
    ExchangeUnavailableError,
    OrderStateUnknownError,
)
from omegafarm.exchange.testing import LoopbackExchangeServer, Reply
from tests.exchange._binance import MiniBinance, btc_usdt_market
from tests.exchange._replay import replay_service

MARKETS = {"BTC/USDT": btc_usdt_market()}
TIMEOUT_MS = 800  # generous: only injected delays may hit it, even on a loaded CI machine
TICKER = {
    "symbol": "BTCUSDT",
    "lastPrice": "43000.10",
    "bidPrice": "43000.00",
    "askPrice": "43000.20",
    "openPrice": "42000",
    "highPrice": "44000",
    "lowPrice": "41000",
    "volume": "1234.5",
    "quoteVolume": "53000000",
    "closeTime": 1700000000000,
}


class SleepRecorder:
    """Stands in for asyncio.sleep: records the delay and yields once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay_s: float) -> None:
        self.delays.append(delay_s)
        await asyncio.sleep(0)  # wait-ok: yields once, stands in for the real sleep


def _service(exchange: MiniBinance, tmp_path: Path, sleep: SleepRecorder):  # type: ignore[no-untyped-def]
    return replay_service(
        "binance",
        exchange.server,
        tmp_path,
        markets=MARKETS,
        timeout_ms=TIMEOUT_MS,
        sleep=sleep,
    )


@pytest.fixture
def sleep() -> SleepRecorder:
    return SleepRecorder()


# ----------------------------------------------------------------------------- orders
@pytest.mark.parametrize("fault", ["timeout_after", "timeout_before", "503"])
async def test_order_after_fault_is_placed_exactly_once(
    tmp_path: Path, sleep: SleepRecorder, fault: str
) -> None:
    exchange = MiniBinance()
    exchange.timeout_s = TIMEOUT_MS / 1000
    exchange.faults.append(fault)
    async with exchange.server, _service(exchange, tmp_path, sleep) as service:
        order = await service.create_order("BTC/USDT", "limit", "buy", "0.01", "43000")
    assert exchange.created_client_ids == [order.client_order_id]
    assert len(exchange.orders) == 1
    assert exchange.server.count("GET", "/openOrders") >= 1  # asked before any retry
    expected_posts = 1 if fault == "timeout_after" else 2
    assert exchange.server.count("POST", "/order") == expected_posts


async def test_rate_limited_order_waits_retry_after_and_skips_the_lookup(
    tmp_path: Path, sleep: SleepRecorder
) -> None:
    exchange = MiniBinance()
    exchange.faults.append("429")
    async with exchange.server, _service(exchange, tmp_path, sleep) as service:
        order = await service.create_order("BTC/USDT", "limit", "buy", "0.01", "43000")
    assert 1.0 in sleep.delays  # the server's Retry-After
    assert exchange.server.count("GET", "/openOrders") == 0  # a 429 was not executed
    assert exchange.created_client_ids == [order.client_order_id]


async def test_no_duplicates_under_many_concurrent_orders_with_random_timeouts(
    tmp_path: Path, sleep: SleepRecorder
) -> None:
    exchange = MiniBinance()
    exchange.timeout_s = TIMEOUT_MS / 1000
    rng = random.Random(7)
    exchange.faults.extend(
        rng.choice(["timeout_after", "timeout_before", "503", "ok", "ok"]) for _ in range(40)
    )
    async with exchange.server, _service(exchange, tmp_path, sleep) as service:
        orders = await asyncio.gather(
            *(
                service.create_order("BTC/USDT", "limit", "buy", "0.01", str(43000 + i))
                for i in range(20)
            )
        )
    ids = [o.client_order_id for o in orders]
    assert len(set(ids)) == 20
    per_client_id = Counter(exchange.created_client_ids)
    assert set(per_client_id) == set(ids)
    assert max(per_client_id.values()) == 1  # exactly one order created per client id
    assert len(exchange.orders) == 20


async def test_order_is_not_resent_when_the_lookup_fails(
    tmp_path: Path, sleep: SleepRecorder
) -> None:
    exchange = MiniBinance()
    exchange.timeout_s = TIMEOUT_MS / 1000
    exchange.faults.append("timeout_after")
    original = exchange.handle

    async def lookups_fail(request):  # type: ignore[no-untyped-def]
        if request.path.endswith(("/openOrders", "/allOrders")):
            return Reply("upstream down", status=503)
        return await original(request)

    exchange.server.handler = lookups_fail
    async with exchange.server, _service(exchange, tmp_path, sleep) as service:
        with pytest.raises(OrderStateUnknownError) as caught:
            await service.create_order("BTC/USDT", "limit", "buy", "0.01", "43000")
    assert exchange.server.count("POST", "/order") == 1
    message = str(caught.value)
    assert message.startswith("binance.create_order(BTC/USDT): the order with client id ")
    assert exchange.created_client_ids[0] in message
    assert "was not sent again" in message


# ----------------------------------------------------------------------------- reads
async def _ticker_with(tmp_path: Path, sleep: SleepRecorder, *replies: Reply, attempts: int = 4):
    server = LoopbackExchangeServer(TICKER)
    server.push(*replies)
    async with (
        server,
        replay_service(
            "binance",
            server,
            tmp_path,
            markets=MARKETS,
            timeout_ms=TIMEOUT_MS,
            sleep=sleep,
            max_read_attempts=attempts,
        ) as service,
    ):
        try:
            return await service.fetch_ticker("BTC/USDT"), len(server.requests)
        except Exception as exc:
            return exc, len(server.requests)


async def test_read_is_retried_after_5xx_and_timeout_with_growing_backoff(
    tmp_path: Path, sleep: SleepRecorder
) -> None:
    result, requests = await _ticker_with(
        tmp_path, sleep, Reply("bad gateway", status=502), Reply(TICKER, delay_s=1.5)
    )
    assert not isinstance(result, Exception)
    assert result.last == Decimal("43000.10")
    assert requests == 3
    backoff = [d for d in sleep.delays if d > 0]
    assert len(backoff) == 2
    assert backoff[0] < backoff[1]  # exponential: 0.1-0.2 s, then 0.2-0.4 s


async def test_read_gives_up_after_the_attempt_budget_with_a_clear_error(
    tmp_path: Path, sleep: SleepRecorder
) -> None:
    result, requests = await _ticker_with(
        tmp_path, sleep, *[Reply("maintenance", status=503)] * 5, attempts=3
    )
    assert isinstance(result, ExchangeUnavailableError)
    assert requests == 3
    assert str(result).startswith("binance.fetch_ticker(BTC/USDT): exchange unavailable: ")


async def test_read_waits_the_retry_after_of_a_429(tmp_path: Path, sleep: SleepRecorder) -> None:
    limited = Reply({"code": -1003, "msg": "Too many requests"}, 429, {"Retry-After": "3"})
    result, requests = await _ticker_with(tmp_path, sleep, limited)
    assert not isinstance(result, Exception)
    assert requests == 2
    assert 3.0 in sleep.delays


async def test_malformed_json_is_a_response_error_and_not_retried(
    tmp_path: Path, sleep: SleepRecorder
) -> None:
    result, requests = await _ticker_with(tmp_path, sleep, Reply('{"symbol": "BTCUSDT", "last'))
    assert isinstance(result, ExchangeResponseError)
    assert requests == 1
    assert str(result).startswith("binance.fetch_ticker(BTC/USDT): ")


async def test_authentication_failure_is_not_retried(tmp_path: Path, sleep: SleepRecorder) -> None:
    refused = Reply({"code": -2015, "msg": "Invalid API-key, IP, or permissions."}, status=401)
    result, requests = await _ticker_with(tmp_path, sleep, refused)
    assert isinstance(result, AuthenticationError)
    assert requests == 1
    assert "binance.fetch_ticker(BTC/USDT)" in str(result)


async def test_cancel_whose_answer_was_lost_returns_the_cancelled_order(
    tmp_path: Path, sleep: SleepRecorder
) -> None:
    exchange = MiniBinance()
    exchange.timeout_s = TIMEOUT_MS / 1000
    async with exchange.server, _service(exchange, tmp_path, sleep) as service:
        order = await service.create_order("BTC/USDT", "limit", "buy", "0.01", "43000")
        exchange.faults.append("timeout_after")
        cancelled = await service.cancel_order(order.id, "BTC/USDT")
    assert cancelled.id == order.id
    assert cancelled.status == "canceled"
    assert exchange.cancel_requests == 1
    assert exchange.server.count("DELETE", "/order") == 2  # retried, found nothing to cancel

"""The call pipeline on its hot path (a ticker read in one coroutine): what it counts at
/metrics, how it retries and translates, and what it coalesces, through a real service talking
to a loopback exchange."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from omegafarm.core.errors import ServiceStateError
from omegafarm.core.metrics import render_prometheus
from omegafarm.exchange import BadSymbolError, ExchangeService, ExchangeSettings
from omegafarm.exchange import ExchangeUnavailableError as Unavailable
from omegafarm.exchange.testing import LoopbackExchangeServer, Reply
from tests.exchange._binance import btc_usdt_market
from tests.exchange._replay import dummy_credentials, install_markets

TICKER = {"symbol": "BTCUSDT", "lastPrice": "43000.5", "closeTime": 1700000000000}
OPERATION = {"service": "exchange", "operation": "fetch_ticker"}
BAD_SYMBOL = Reply({"code": -1121, "msg": "Invalid symbol."}, 400, delay_s=0.2)


async def _no_wait(_delay_s: float) -> None:
    return None


def _service(
    server: LoopbackExchangeServer, tmp_path: Path, registry: CollectorRegistry
) -> ExchangeService:
    settings = ExchangeSettings(
        exchange_id="binance",
        api_base_url=server.url,
        load_markets_on_start=False,
        ohlcv_cache_path=tmp_path / "ohlcv.sqlite",
        max_read_attempts=3,
    )
    return ExchangeService(
        settings, credentials=dummy_credentials("binance"), sleep=_no_wait,
        metrics_registry=registry,
    )  # fmt: skip


def _value(registry: CollectorRegistry, name: str, labels: dict[str, str]) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_n_ticker_reads_are_counted_and_timed_at_metrics(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    server = LoopbackExchangeServer(TICKER)
    async with server, _service(server, tmp_path, registry) as service:
        install_markets(service.get_exchange_client(), {"BTC/USDT": btc_usdt_market()})
        tickers = [await service.fetch_ticker("BTC/USDT") for _ in range(7)]
        metrics = service.get_metrics()
    assert {t.last for t in tickers} == {Decimal("43000.5")}
    assert metrics["operations"] == {"fetch_ticker": 7}
    assert _value(registry, "omega_service_operations_total", OPERATION) == 7
    assert _value(registry, "omega_service_operation_duration_seconds_count", OPERATION) == 7
    assert _value(registry, "omega_service_operation_duration_seconds_sum", OPERATION) > 0
    text = render_prometheus(registry).decode()
    assert "# TYPE omega_service_operations_total counter" in text
    assert "# TYPE omega_service_operation_duration_seconds histogram" in text
    inf = 'le="+Inf",operation="fetch_ticker",service="exchange"} 7.0'
    assert f"omega_service_operation_duration_seconds_bucket{{{inf}" in text


async def test_a_read_retried_past_a_transient_error_is_one_call_and_one_error(
    tmp_path: Path,
) -> None:
    registry = CollectorRegistry()
    server = LoopbackExchangeServer(TICKER)
    server.push(Reply("busy", 503))
    async with server, _service(server, tmp_path, registry) as service:
        install_markets(service.get_exchange_client(), {"BTC/USDT": btc_usdt_market()})
        ticker = await service.fetch_ticker("BTC/USDT")
        metrics = service.get_metrics()
    assert ticker.last == Decimal("43000.5")
    assert len(server.requests) == 2
    assert metrics["errors"] == {"ExchangeUnavailableError": 1}
    assert _value(registry, "omega_service_operations_total", OPERATION) == 1
    error = {"service": "exchange", "error_class": "ExchangeUnavailableError", "transient": "true"}
    assert _value(registry, "omega_service_errors_total", error) == 1


async def test_a_read_failing_every_attempt_raises_our_error_naming_the_call(
    tmp_path: Path,
) -> None:
    registry = CollectorRegistry()
    server = LoopbackExchangeServer(TICKER)
    server.push(*[Reply("busy", 503)] * 3)
    async with server, _service(server, tmp_path, registry) as service:
        install_markets(service.get_exchange_client(), {"BTC/USDT": btc_usdt_market()})
        with pytest.raises(Unavailable, match=r"^binance\.fetch_ticker\(BTC/USDT\): ") as caught:
            await service.fetch_ticker("BTC/USDT")
    assert len(server.requests) == 3  # max_read_attempts
    assert caught.value.__cause__ is not None  # ccxt's exception stays chained
    assert _value(registry, "omega_service_operations_total", OPERATION) == 1
    error = {"service": "exchange", "error_class": "ExchangeUnavailableError", "transient": "true"}
    assert _value(registry, "omega_service_errors_total", error) == 3


async def test_readers_joining_a_failing_read_get_its_error_from_one_request(
    tmp_path: Path,
) -> None:
    server = LoopbackExchangeServer(TICKER)
    server.push(BAD_SYMBOL)  # slow enough for every caller to join the first
    async with server, _service(server, tmp_path, CollectorRegistry()) as service:
        install_markets(service.get_exchange_client(), {"BTC/USDT": btc_usdt_market()})
        outcomes = await asyncio.gather(
            *(service.fetch_ticker("BTC/USDT") for _ in range(5)), return_exceptions=True
        )
        after = await service.fetch_ticker("BTC/USDT")  # the failed flight is gone
    assert all(isinstance(o, BadSymbolError) for o in outcomes)
    assert len({id(o) for o in outcomes}) == 1  # the leader's error, shared
    assert len(server.requests) == 2  # the shared one, then `after`
    assert after.last == Decimal("43000.5")


async def test_reads_of_the_same_symbol_with_other_params_are_not_coalesced(
    tmp_path: Path,
) -> None:
    server = LoopbackExchangeServer(TICKER)
    server.push(Reply(TICKER, delay_s=0.2), Reply(TICKER, delay_s=0.2))
    async with server, _service(server, tmp_path, CollectorRegistry()) as service:
        install_markets(service.get_exchange_client(), {"BTC/USDT": btc_usdt_market()})
        await asyncio.gather(
            service.fetch_ticker("BTC/USDT"),
            service.fetch_ticker("BTC/USDT", {"type": "spot"}),
            service.fetch_ticker("BTC/USDT"),
            service.fetch_ticker("BTC/USDT", {"type": "spot"}),
        )
    assert len(server.requests) == 2  # one per distinct (symbol, params)


async def test_a_ticker_read_is_refused_when_awaited_before_start_and_after_stop(
    tmp_path: Path,
) -> None:
    server = LoopbackExchangeServer(TICKER)
    async with server:
        service = _service(server, tmp_path, CollectorRegistry())
        early = service.fetch_ticker("BTC/USDT")  # not raised yet: a coroutine, like the others
        with pytest.raises(ServiceStateError, match="initialize"):
            await early
        async with service:
            install_markets(service.get_exchange_client(), {"BTC/USDT": btc_usdt_market()})
            assert (await service.fetch_ticker("BTC/USDT")).last == Decimal("43000.5")
        late = service.fetch_ticker("BTC/USDT")
        with pytest.raises(ServiceStateError, match="stopped"):
            await late
    assert len(server.requests) == 1

"""ExchangeService wiring: client choice, sandbox refusal, our limiter in place of ccxt's."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from omegafarm.core.errors import ConfigError, ServiceStateError
from omegafarm.exchange import (
    BadSymbolError,
    ExchangeService,
    ExchangeSettings,
    ExchangeUnavailableError,
    Market,
    Order,
    Ticker,
)
from omegafarm.exchange.paper import PaperSettings
from omegafarm.exchange.shared_limit import SharedRateLimiter
from omegafarm.exchange.testing import LoopbackExchangeServer, RecordedRequest, Reply
from omegafarm.store import RedisClient
from tests.exchange._binance import btc_usdt_market
from tests.exchange._replay import replay_service

MARKETS = {"BTC/USDT": btc_usdt_market()}
TICKER = {"symbol": "BTCUSDT", "lastPrice": "43000.5", "closeTime": 1700000000000}


class RecordingLimiter:
    """A RateLimiter that admits everything and remembers what it was asked."""

    def __init__(self) -> None:
        self.acquired: list[tuple[str, float]] = []
        self.retry_after: list[tuple[str, float]] = []
        self.used: list[tuple[str, float, float]] = []

    async def acquire(self, bucket: str, cost: float) -> None:
        self.acquired.append((bucket, cost))

    def note_retry_after(self, bucket: str, seconds: float) -> None:
        self.retry_after.append((bucket, seconds))

    def sync_used_weight(self, bucket: str, used: float, limit: float) -> None:
        self.used.append((bucket, used, limit))


async def _no_wait(_delay_s: float) -> None:
    return None


def _settings(tmp_path: Path, **extra: object) -> ExchangeSettings:
    return ExchangeSettings.model_validate(
        {"load_markets_on_start": False, "ohlcv_cache_path": tmp_path / "c.sqlite", **extra}
    )


async def test_every_request_acquires_ccxts_endpoint_cost_from_our_limiter(
    tmp_path: Path,
) -> None:
    server = LoopbackExchangeServer(TICKER)
    server.push(
        Reply({"code": -1003, "msg": "slow down"}, 429, {"Retry-After": "2"}),
        Reply(TICKER, headers={"X-MBX-USED-WEIGHT-1M": "600"}),
    )
    limiter = RecordingLimiter()
    async with server:
        settings = _settings(tmp_path, exchange_id="binance", api_base_url=server.url)
        service = ExchangeService(settings, rate_limiter=limiter, sleep=_no_wait)
        async with service:
            client = service.get_exchange_client()
            client.set_markets([client.safe_market_structure(m) for m in MARKETS.values()])
            ticker = await service.fetch_ticker("BTC/USDT")
            assert client.enableRateLimit is False  # ccxt's own throttle is off
    assert isinstance(ticker, Ticker)
    assert ticker.last == Decimal("43000.5")
    # ccxt's table: GET /api/v3/ticker/24hr with a symbol is weight 2 = 0.4 units of 50 ms.
    assert limiter.acquired == [("weight:binance", 0.4), ("weight:binance", 0.4)]
    assert limiter.retry_after == [("weight:binance", 2.0)]
    # 600 of Binance's 6000 weight per minute = 10 % of ccxt's 1200 units per minute.
    assert limiter.used == [("weight:binance", pytest.approx(120.0), 1200.0)]


@pytest.mark.parametrize(
    ("headers", "used"),
    [
        ({"x-mbx-used-weight-1m": "600"}, [("weight:binance", pytest.approx(120.0), 1200.0)]),
        ({"X-Mbx-Used-Weight-1m": "6000"}, [("weight:binance", pytest.approx(1200.0), 1200.0)]),
        ({"X-Other": "1", "x-mbx-used-weight": "5"}, []),
        ({}, []),
    ],
    ids=["lower-case", "mixed-case", "other-x-headers-only", "none"],
)
async def test_the_used_weight_header_is_followed_in_any_case_and_only_it(
    tmp_path: Path, headers: dict[str, str], used: list[object]
) -> None:
    server = LoopbackExchangeServer(TICKER)
    server.push(Reply(TICKER, headers=headers))
    limiter = RecordingLimiter()
    async with server:
        settings = _settings(tmp_path, exchange_id="binance", api_base_url=server.url)
        async with ExchangeService(settings, rate_limiter=limiter, sleep=_no_wait) as service:
            client = service.get_exchange_client()
            client.set_markets([client.safe_market_structure(m) for m in MARKETS.values()])
            await service.fetch_ticker("BTC/USDT")
    assert limiter.used == used


async def test_testnet_uses_the_sandbox_urls(tmp_path: Path) -> None:
    service = ExchangeService(_settings(tmp_path, exchange_id="binance", use_testnet=True))
    async with service:
        urls = service.get_exchange_client().urls["api"]
    assert "testnet" in urls["public"]


async def test_testnet_is_refused_where_the_exchange_has_none(tmp_path: Path) -> None:
    service = ExchangeService(_settings(tmp_path, exchange_id="bitstamp", use_testnet=True))
    with pytest.raises(ConfigError, match="'bitstamp' has no sandbox/testnet URL"):
        await service.initialize()


async def test_unknown_exchange_id_is_a_config_error(tmp_path: Path) -> None:
    service = ExchangeService(_settings(tmp_path, exchange_id="nosuchexchange"))
    with pytest.raises(ConfigError, match="'nosuchexchange' is neither 'paper' nor a ccxt"):
        await service.initialize()


async def test_calls_before_initialize_are_refused(tmp_path: Path) -> None:
    service = ExchangeService(_settings(tmp_path))
    with pytest.raises(ServiceStateError):
        await service.fetch_ticker("BTC/USDT")


async def test_unknown_symbol_is_a_bad_symbol_error(tmp_path: Path) -> None:
    server = LoopbackExchangeServer(TICKER)
    async with server, replay_service("binance", server, tmp_path, markets=MARKETS) as service:
        with pytest.raises(BadSymbolError, match=r"binance has no market 'DOGE/EUR'"):
            await service.create_order("DOGE/EUR", "limit", "buy", "1", "1")
    assert server.requests == []


async def test_paper_is_the_default_and_speaks_the_same_models(tmp_path: Path) -> None:
    settings = _settings(tmp_path, load_markets_on_start=True, paper=PaperSettings())
    service = ExchangeService(settings)
    assert service.exchange_id == "paper"
    async with service:
        markets = await service.fetch_markets()
        ticker = await service.fetch_ticker("BTC/USDT")
        order = await service.create_order("BTC/USDT", "market", "buy", "0.01")
        balance = await service.fetch_balance()
        health = await service.health()
        candles = await service.fetch_ohlcv("BTC/USDT", "1m", limit=5)
    assert isinstance(markets["BTC/USDT"], Market)
    assert ticker.last is not None
    assert isinstance(order, Order)
    assert order.client_order_id is not None
    usdt = balance.assets["USDT"]
    assert usdt.free is not None and usdt.used is not None
    assert usdt.total is not None
    assert abs(usdt.free + usdt.used - usdt.total) < Decimal("1e-9")  # ccxt-style floats
    # the market order either still reserves quote currency or (paper trading fills market
    # orders on arrival) has already bought the base currency
    assert usdt.used > 0 or balance.free("BTC") > 0
    assert health.ready
    assert candles.shape == (5, 6)


async def test_shared_limit_puts_every_request_on_the_farm_wide_budget(
    tmp_path: Path, redis_client: RedisClient
) -> None:
    server = LoopbackExchangeServer(TICKER)
    async with server:
        settings = _settings(tmp_path, exchange_id="binance", api_base_url=server.url)
        service = ExchangeService(settings, shared_limit=redis_client, sleep=_no_wait)
        async with service:
            client = service.get_exchange_client()
            client.set_markets([client.safe_market_structure(m) for m in MARKETS.values()])
            await service.fetch_ticker("BTC/USDT")
            await service.fetch_ticker("BTC/USDT")
            limiter = client.omega_limiter
            health = await service.health()
    assert isinstance(limiter, SharedRateLimiter)
    assert limiter.used_units["weight:binance"] > 0  # the budget lives in Redis
    assert not limiter.degraded
    assert health.ready
    assert not health.degraded


async def test_rate_limit_usage_is_a_prometheus_gauge(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    server = LoopbackExchangeServer(TICKER)
    async with server:
        settings = _settings(tmp_path, exchange_id="binance", api_base_url=server.url)
        service = ExchangeService(settings, metrics_registry=registry, sleep=_no_wait)
        async with service:
            client = service.get_exchange_client()
            client.set_markets([client.safe_market_structure(m) for m in MARKETS.values()])
            for _ in range(5):
                await service.fetch_ticker("BTC/USDT")
            used = registry.get_sample_value(
                "omega_exchange_rate_limit_used_ratio",
                {"exchange": "binance", "bucket": "weight:binance"},
            )
            metrics = service.get_metrics()
    assert used is not None
    assert 0 < used <= 1
    assert metrics["rate_limit_used"]["weight:binance"] == pytest.approx(used, abs=0.05)


async def test_concurrent_identical_reads_share_one_request(tmp_path: Path) -> None:
    server = LoopbackExchangeServer(TICKER)
    server.push(Reply(TICKER, delay_s=0.2))  # slow enough for all callers to pile up
    async with server, replay_service("binance", server, tmp_path, markets=MARKETS) as service:
        tickers = await asyncio.gather(*(service.fetch_ticker("BTC/USDT") for _ in range(20)))
        after = await service.fetch_ticker("BTC/USDT")  # not in flight any more: a new call
    assert len(server.requests) >= 2  # retried once (binance loads markets from 3 endpoints)
    assert all(t == tickers[0] for t in tickers)
    assert after.last == Decimal("43000.5")


async def test_start_fails_cleanly_when_markets_cannot_load(tmp_path: Path) -> None:
    server = LoopbackExchangeServer("maintenance")
    server.push(*[Reply("maintenance", status=503)] * 5)
    async with server:
        settings = _settings(
            tmp_path,
            exchange_id="binance",
            api_base_url=server.url,
            load_markets_on_start=True,
            max_read_attempts=2,
        )
        service = ExchangeService(settings, sleep=_no_wait)
        with pytest.raises(ExchangeUnavailableError, match=r"^binance.fetch_markets\(\): "):
            await service.initialize()
    assert service.state == "failed"
    assert service._venue is None  # closed, no aiohttp session left open
    assert len(server.requests) >= 2  # retried once (binance loads markets from 3 endpoints)


async def test_a_start_cancelled_while_loading_markets_leaves_no_session_open(
    tmp_path: Path,
) -> None:
    asked, release = asyncio.Event(), asyncio.Event()

    async def hang(_request: RecordedRequest) -> Reply:
        asked.set()
        await release.wait()
        return Reply("{}")

    async with LoopbackExchangeServer(handler=hang) as server:
        settings = _settings(
            tmp_path, exchange_id="binance", api_base_url=server.url, load_markets_on_start=True
        )
        service = ExchangeService(settings, sleep=_no_wait)
        starting = asyncio.create_task(service.initialize())
        await asyncio.wait_for(asked.wait(), timeout=10)
        venue = service._venue
        assert venue is not None
        session = getattr(venue.client, "session", None)
        assert session is not None and not session.closed  # the request is in flight
        starting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await starting
        release.set()
    assert service.state == "failed"
    assert session.closed


async def test_paper_candles_follow_the_paper_clock_not_the_wall_clock(tmp_path: Path) -> None:
    paper = PaperSettings(clock="manual", start_ts_ms=1_704_067_200_000, warmup_bars=100)
    service = ExchangeService(_settings(tmp_path, paper=paper))
    async with service:
        first = await service.fetch_ohlcv("BTC/USDT", "1m", since=1_704_067_200_000, limit=150)
        service.get_exchange_client().advance(30)
        later = await service.fetch_ohlcv("BTC/USDT", "1m", since=1_704_067_200_000, limit=150)
    assert len(later) > len(first)  # the newly closed bars were fetched, not cached as missing
    assert later[: len(first), 0].tolist() == first[:, 0].tolist()


async def test_cancelling_the_caller_that_asked_leaves_the_others_served(tmp_path: Path) -> None:
    arrived = asyncio.Event()

    async def slow_first(request: RecordedRequest) -> Reply:
        first = not arrived.is_set()
        arrived.set()
        return Reply(TICKER, delay_s=0.3 if first else 0.0)

    server = LoopbackExchangeServer(handler=slow_first)
    async with server, replay_service("binance", server, tmp_path, markets=MARKETS) as service:
        leader = asyncio.ensure_future(service.fetch_ticker("BTC/USDT"))
        await asyncio.wait_for(arrived.wait(), timeout=5)  # the leader's request is on the wire
        followers = [asyncio.ensure_future(service.fetch_ticker("BTC/USDT")) for _ in range(3)]
        await asyncio.sleep(0)  # wait-ok: let the followers join the leader's call
        leader.cancel()
        results = await asyncio.gather(*followers)
    assert leader.cancelled()
    assert all(r.last == Decimal("43000.5") for r in results)
    assert len(server.requests) == 2  # the followers asked once more, together

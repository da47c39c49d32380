"""Markets and tickers shared through Redis: one exchange call for the whole farm.

Two ExchangeService instances with two RedisClients on one (real, embedded) Redis stand for two
processes of a farm; the exchange is a loopback Binance behind real ccxt that counts requests.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from omegafarm.exchange import ExchangeService, ExchangeSettings
from omegafarm.exchange.testing import LoopbackExchangeServer, RecordedRequest, Reply
from omegafarm.store import RedisClient, RedisSettings

SPOT_INFO = "/api/v3/exchangeInfo"
TICKER = "/api/v3/ticker/24hr"


def btc_usdt_symbol_info() -> dict[str, Any]:
    return {
        "symbol": "BTCUSDT",
        "status": "TRADING",
        "baseAsset": "BTC",
        "baseAssetPrecision": 8,
        "quoteAsset": "USDT",
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "orderTypes": ["LIMIT", "MARKET"],
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000", "tickSize": "0.01"},
            {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000", "stepSize": "0.00001"},
            {"filterType": "NOTIONAL", "minNotional": "5.00", "maxNotional": "9000000"},
        ],
    }  # fmt: skip


class TickerVenue:
    """A loopback Binance with one spot market whose last price rises by 1 on every ticker."""

    def __init__(self) -> None:
        self.prices = itertools.count(60_000)
        self.server = LoopbackExchangeServer(handler=self.handle)

    async def handle(self, request: RecordedRequest) -> Reply:
        """Answer exchangeInfo (spot: BTC/USDT; futures: none) and 24 h tickers."""
        if request.path == SPOT_INFO:
            return Reply({"timezone": "UTC", "serverTime": 1, "symbols": [btc_usdt_symbol_info()]})
        if request.path.endswith("exchangeInfo"):
            return Reply({"timezone": "UTC", "serverTime": 1, "symbols": []})
        if request.path == TICKER:
            last = f"{next(self.prices)}.5"
            tick = {"symbol": "BTCUSDT", "lastPrice": last, "bidPrice": "59999.5", "bidQty": "1.5",
                    "askPrice": "60001.25", "askQty": "2", "volume": "1234.5",
                    "closeTime": 1_700_000_000_000}  # fmt: skip
            return Reply([tick] if "symbols" in request.query else tick)
        return Reply({"code": -1100, "msg": f"unknown path {request.path}"}, status=400)

    def count(self, path: str) -> int:
        """Requests received for ``path``."""
        return sum(1 for r in self.server.requests if r.path == path)


@asynccontextmanager
async def redis_process(redis_url: str, farm: str) -> AsyncIterator[RedisClient]:
    """Another process's RedisClient on the same server and farm (no shared in-process state)."""
    client = RedisClient(
        RedisSettings(url=SecretStr(redis_url), farm=farm), metrics_registry=CollectorRegistry()
    )
    async with client:
        yield client


def service(
    venue: TickerVenue, tmp_path: Path, redis: RedisClient | None, **settings: Any
) -> ExchangeService:
    """A binance ExchangeService on the loopback venue, sharing market data through ``redis``."""
    config = ExchangeSettings(
        exchange_id="binance",
        api_base_url=venue.server.url,
        ohlcv_cache_path=tmp_path / "ohlcv.sqlite",
        **settings,
    )
    return ExchangeService(config, redis=redis, metrics_registry=CollectorRegistry())


async def wait_until(condition: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    """Poll ``condition`` until it holds (the event is in Redis or on another task)."""
    async with asyncio.timeout(timeout_s):
        while not await condition():  # noqa: ASYNC110  # the event is a Redis expiry: polled
            await asyncio.sleep(0.01)  # wait-ok: polling for a key expiry / a background task


async def test_fifty_concurrent_ticker_requests_on_two_instances_cost_one_exchange_call(
    tmp_path: Path, redis_client: RedisClient, redis_url: str
) -> None:
    venue = TickerVenue()
    async with (
        venue.server,
        redis_process(redis_url, redis_client.settings.farm) as other_redis,
        service(venue, tmp_path, redis_client, ticker_ttl_s=30) as first,
        service(venue, tmp_path, other_redis, ticker_ttl_s=30) as second,
    ):
        calls = [(first if i % 2 else second).fetch_tickers(["BTC/USDT"]) for i in range(50)]
        answers = await asyncio.gather(*calls)
        stats = (
            first.get_metrics()["market_data_cache"],
            second.get_metrics()["market_data_cache"],
        )

    assert venue.count(TICKER) == 1
    assert all(a == answers[0] for a in answers)
    assert answers[0]["BTC/USDT"].last is not None
    assert stats[0]["loads"] + stats[1]["loads"] == 2  # the markets once, the ticker once


async def test_second_instance_takes_markets_from_redis_without_an_exchange_call(
    tmp_path: Path, redis_client: RedisClient, redis_url: str
) -> None:
    venue = TickerVenue()
    async with venue.server, service(venue, tmp_path, redis_client) as first:
        markets = await first.fetch_markets()
        async with (
            redis_process(redis_url, redis_client.settings.farm) as other_redis,
            service(venue, tmp_path, other_redis) as second,
        ):
            assert venue.count(SPOT_INFO) == 1  # the first instance loaded, the second did not
            shared = await second.fetch_markets()
            ticker = await second.fetch_ticker("BTC/USDT")  # ccxt uses the installed markets

    assert venue.count(SPOT_INFO) == 1
    assert shared == markets  # every field, Decimal steps and limits and the raw info, exact
    assert shared["BTC/USDT"].price_step == markets["BTC/USDT"].price_step
    assert str(shared["BTC/USDT"].amount_step) == "0.00001"
    assert ticker.symbol == "BTC/USDT"


async def test_ticker_is_asked_again_once_its_ttl_expires(
    tmp_path: Path, redis_client: RedisClient
) -> None:
    venue = TickerVenue()
    async with venue.server, service(venue, tmp_path, redis_client, ticker_ttl_s=0.2) as svc:
        first = await svc.fetch_ticker("BTC/USDT")
        again = await svc.fetch_ticker("BTC/USDT")
        calls_within_ttl = venue.count(TICKER)
        keys = await redis_client.scan("cache:exchange:binance:tic")
        assert len(keys) == 1

        async def expired() -> bool:
            return not await redis_client.exists(keys[0])

        await wait_until(expired)
        later = await svc.fetch_ticker("BTC/USDT")

    assert calls_within_ttl == 1
    assert again == first
    assert venue.count(TICKER) == 2
    assert later.last == first.last + 1  # a new answer from the exchange


async def test_markets_are_reloaded_on_the_refresh_interval_until_shutdown(
    tmp_path: Path, redis_client: RedisClient
) -> None:
    venue = TickerVenue()
    async with venue.server:
        svc = service(venue, tmp_path, redis_client, markets_refresh_s=0.2)
        async with svc:

            async def reloaded() -> bool:
                return venue.count(SPOT_INFO) >= 2

            await wait_until(reloaded)
            assert len(await svc.fetch_markets(reload=False)) == 1
        after_stop = venue.count(SPOT_INFO)
        await asyncio.sleep(0)  # wait-ok: let a (wrongly) surviving refresh task run once
    assert svc.get_metrics()["market_data_cache"]["loads"] >= 2
    assert venue.count(SPOT_INFO) == after_stop


async def test_without_redis_nothing_is_shared_and_each_call_asks_the_exchange(
    tmp_path: Path,
) -> None:
    venue = TickerVenue()
    async with venue.server, service(venue, tmp_path, None) as svc:
        await svc.fetch_ticker("BTC/USDT")
        await svc.fetch_ticker("BTC/USDT")
        metrics = svc.get_metrics()
    assert venue.count(TICKER) == 2
    assert metrics["market_data_cache"] is None


async def test_redis_down_the_service_answers_from_the_exchange_and_says_degraded(
    tmp_path: Path,
) -> None:
    venue = TickerVenue()
    redis = RedisClient(
        RedisSettings(data_dir=tmp_path / "valkey", farm="down"),
        metrics_registry=CollectorRegistry(),
    )
    async with venue.server, redis, service(venue, tmp_path, redis, ticker_ttl_s=30) as svc:
        await svc.fetch_ticker("BTC/USDT")
        healthy = await svc.health()
        assert redis.embedded is not None
        await redis.embedded.stop()  # the server goes away under a connected client

        during = await svc.fetch_ticker("BTC/USDT")
        degraded = await svc.health()
        still = await svc.fetch_ticker("BTC/USDT")  # within retry_redis_s: straight to exchange

    assert not healthy.degraded
    assert during.last is not None and still.last is not None
    assert venue.count(TICKER) == 3
    assert degraded.degraded
    assert degraded.ready
    assert "market data cache: Redis unreachable" in degraded.reason

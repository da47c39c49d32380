"""Real processes: four farm processes asking for one ticker at once cost one exchange call."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from omegafarm.exchange import ExchangeService, ExchangeSettings
from omegafarm.store import RedisClient, RedisSettings
from tests.exchange.test_shared_cache import TICKER, TickerVenue

PROCESSES = 4
CALLS_PER_PROCESS = 25


async def _ask(
    url: str, farm: str, venue_url: str, cache: str, ready: mp.Queue, go: Synchronized
) -> list[str]:  # type: ignore[type-arg]
    redis = RedisClient(
        RedisSettings(url=SecretStr(url), farm=farm), metrics_registry=CollectorRegistry()
    )
    settings = ExchangeSettings(
        exchange_id="binance", api_base_url=venue_url, ohlcv_cache_path=Path(cache), ticker_ttl_s=30
    )
    async with redis, ExchangeService(settings, redis=redis) as exchange:
        ready.put("ready")
        while go.value == 0.0 or time.time() < go.value:  # noqa: ASYNC110  # cross-process start line
            await asyncio.sleep(0.001)  # wait-ok: a cross-process start line, polled
        calls = [exchange.fetch_ticker("BTC/USDT") for _ in range(CALLS_PER_PROCESS)]
        return [str(t.last) for t in await asyncio.gather(*calls)]


def _worker(
    url: str,
    farm: str,
    venue_url: str,
    cache: str,
    ready: mp.Queue,
    go: Synchronized,
    out: mp.Queue,
) -> None:  # type: ignore[type-arg]
    out.put(asyncio.run(_ask(url, farm, venue_url, cache, ready, go)))


@pytest.mark.slow
async def test_four_processes_asking_for_one_ticker_at_once_cost_one_exchange_call(
    tmp_path: Path, redis_client: RedisClient, redis_url: str
) -> None:
    venue = TickerVenue()
    ctx = mp.get_context("spawn")
    ready, out = ctx.Queue(), ctx.Queue()
    go = ctx.Value("d", 0.0)
    async with venue.server:
        procs = [
            ctx.Process(
                target=_worker,
                args=(
                    redis_url,
                    redis_client.settings.farm,
                    venue.server.url,
                    str(tmp_path / f"ohlcv{i}.sqlite"),
                    ready,
                    go,
                    out,
                ),
            )
            for i in range(PROCESSES)
        ]
        for proc in procs:
            proc.start()
        for _ in procs:
            await asyncio.to_thread(ready.get, timeout=60)
        go.value = time.time() + 0.2
        answers = [await asyncio.to_thread(out.get, timeout=60) for _ in procs]
        for proc in procs:
            await asyncio.to_thread(proc.join, 10)

    prices = {price for answer in answers for price in answer}
    assert sum(len(a) for a in answers) == PROCESSES * CALLS_PER_PROCESS
    assert venue.count(TICKER) == 1
    assert len(prices) == 1  # everyone saw the one answer
    assert venue.count("/api/v3/exchangeInfo") == 1  # and the markets were loaded once too

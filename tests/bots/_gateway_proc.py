"""One gateway in a real process, on a loopback Binance (``MiniBinance``) and a shared Redis.

    python -m tests.bots._gateway_proc REDIS_URL FARM EXCHANGE_URL GATEWAY_ID TTL_S ORDERS_PER_S

The exchange's state is the loopback server's (a ccxt venue), so several of these processes
share the command partitions. Its Exchange Service has the farm's Redis, hence the farm-wide
rate limit. Runs until SIGTERM (an orderly hand-over) or SIGKILL.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import tempfile
from pathlib import Path

from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from omegafarm.bots.config import FarmSettings
from omegafarm.bots.gateway_host import run_gateway
from omegafarm.exchange import ExchangeService, ExchangeSettings
from omegafarm.store import RedisClient, RedisSettings
from tests.exchange._binance import btc_usdt_market
from tests.exchange._replay import dummy_credentials, install_markets


async def main(url: str, farm: str, exchange_url: str, gateway_id: str, ttl_s: float,
               orders_per_s: float) -> None:  # fmt: skip
    redis = RedisClient(
        RedisSettings(url=SecretStr(url), farm=farm), metrics_registry=CollectorRegistry()
    )
    await redis.initialize()
    settings = ExchangeSettings(
        exchange_id="binance", api_base_url=exchange_url, load_markets_on_start=False,
        ohlcv_cache_path=Path(tempfile.mkdtemp()) / "ohlcv.sqlite", orders_per_s=orders_per_s,
    )  # fmt: skip
    exchange = ExchangeService(
        settings, credentials=dummy_credentials("binance"), redis=redis,
        metrics_registry=CollectorRegistry(),
    )  # fmt: skip
    farm_settings = FarmSettings(lease_ttl_s=ttl_s, poll_interval_s=0.1, reconcile_interval_s=0)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with exchange:
        install_markets(exchange.get_exchange_client(), {"BTC/USDT": btc_usdt_market()})
        await run_gateway(redis, exchange, farm_settings, set(), stop, gateway_id=gateway_id)
    await redis.shutdown()


if __name__ == "__main__":
    url, farm, exchange_url, gateway_id, ttl, rate = sys.argv[1:7]
    asyncio.run(main(url, farm, exchange_url, gateway_id, float(ttl), float(rate)))

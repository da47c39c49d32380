"""A whole farm for the dashboard's browser tests: Redis, security, a fast paper exchange
(one-minute bars closing every second), the Cosmic Factor and Education services, the bot farm
(two SMA bots) and the API on loopback. ``python -m tests.api._dashboard_farm`` runs one with an
embedded Redis for working on the dashboard by hand (users viewer/trader/admin, password below).
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from pathlib import Path

from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from omegafarm.api import ApiService, ApiSettings
from omegafarm.bots.config import FarmSettings
from omegafarm.bots.service import BotFarmService
from omegafarm.core.registry import ServiceRegistry
from omegafarm.cosmic.service import CosmicFactorService
from omegafarm.education import EducationService, EducationSettings
from omegafarm.education.sources import OhlcvCandles
from omegafarm.runtime import ExchangeOrders
from omegafarm.security import Role, SecurityService
from omegafarm.store import RedisClient, RedisSettings
from tests.api.conftest import PASSWORD, Farm, fast_security_settings
from tests.api.test_bot_routes import FARM_FILE
from tests.integration._farm import paper_exchange


async def start_dashboard_farm(tmp: Path, redis_url: str) -> Farm:
    """Every service the dashboard shows, with users ``viewer``, ``trader`` and ``admin``."""
    metrics = CollectorRegistry()
    redis = RedisClient(
        RedisSettings(url=SecretStr(redis_url), farm="d" + uuid.uuid4().hex[:12]),
        metrics_registry=metrics,
    )
    security = SecurityService(
        fast_security_settings(tmp / "security"), redis=redis, metrics_registry=metrics
    )
    exchange = paper_exchange(tmp, speed=60.0)
    (tmp / "farm.toml").write_text(FARM_FILE)
    settings = FarmSettings(farm_file=tmp / "farm.toml", lease_ttl_s=1.5, poll_interval_s=0.1)
    registry = ServiceRegistry(
        [
            redis,
            security,
            exchange,
            CosmicFactorService(metrics_registry=metrics),
            EducationService(
                EducationSettings(db_path=tmp / "progress.sqlite3"),
                orders=ExchangeOrders(exchange),
                candles=OhlcvCandles(exchange),
                metrics_registry=metrics,
            ),
            BotFarmService(settings, redis, exchange, metrics_registry=metrics),
        ]
    )
    api = ApiService(ApiSettings(port=0), registry, metrics_registry=metrics)
    registry.add(api)
    await registry.start_all()
    tokens = {}
    for role in Role:
        await security.add_user(role.label, role, PASSWORD, actor="test")
        tokens[role.label] = (await security.create_token(role.label, actor="test")).value
    return Farm(api.url, registry, security, redis, tokens, metrics)


async def _main() -> None:  # pragma: no cover - a tool for people
    import tempfile

    from omegafarm.store import RedisClient as Client

    with tempfile.TemporaryDirectory() as tmp:
        server = Client(RedisSettings(data_dir=Path(tmp) / "redis"))
        await server.initialize()
        assert server.embedded is not None
        farm = await start_dashboard_farm(Path(tmp), server.embedded.address.url())
        print(farm.url, "users viewer/trader/admin, password:", PASSWORD, flush=True)
        print("tokens", farm.tokens, flush=True)
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):  # uvicorn's own handlers would swallow Ctrl-C
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await farm.registry.stop_all()
            await server.shutdown()


if __name__ == "__main__":  # pragma: no cover
    asyncio.run(_main())

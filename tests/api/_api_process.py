"""One API process for multi-process tests: Redis (a given URL and farm), security (a given
folder, shared with the other processes) and the API on a free loopback port.

Run (from the repository root): python -m tests.api._api_process REDIS_URL FARM SECURITY_DIR
Prints ``{"url": ...}`` on stdout once listening, logs JSON lines on stderr, and stops when
its stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from omegafarm.api import ApiService, ApiSettings
from omegafarm.core.logging import configure_logging
from omegafarm.core.registry import ServiceRegistry
from omegafarm.security import SecurityService
from omegafarm.store import RedisClient, RedisSettings
from tests.api.conftest import fast_security_settings


async def main(redis_url: str, farm: str, security_dir: Path) -> None:
    configure_logging(level="info", fmt="json")
    metrics = CollectorRegistry()
    redis = RedisClient(
        RedisSettings(url=SecretStr(redis_url), farm=farm), metrics_registry=metrics
    )
    security = SecurityService(
        fast_security_settings(security_dir), redis=redis, metrics_registry=metrics
    )
    registry = ServiceRegistry([redis, security])
    api = ApiService(ApiSettings(port=0), registry, metrics_registry=metrics)
    registry.add(api)
    await registry.start_all()
    print(json.dumps({"url": api.url}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await registry.stop_all()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], Path(sys.argv[3])))

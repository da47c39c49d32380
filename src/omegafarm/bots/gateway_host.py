"""Running a gateway outside ``omega up`` (``omega gateway``): the one door the CLI uses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from omegafarm.bots.config import FarmSettings
from omegafarm.bots.gateway import Gateway
from omegafarm.exchange import ExchangeService
from omegafarm.store import RedisClient


async def run_gateway(
    redis: RedisClient,
    exchange: ExchangeService,
    settings: FarmSettings,
    markets: set[tuple[str, str]],
    stop: asyncio.Event,
    *,
    gateway_id: str | None = None,
    announce: Callable[[str], None] = lambda _id: None,
) -> None:
    """A gateway of the farm until ``stop``: standby while another is active (see gateway.py)."""
    gateway = Gateway(redis, exchange, settings, markets, gateway_id=gateway_id)
    announce(gateway.id)
    await gateway.run(stop)

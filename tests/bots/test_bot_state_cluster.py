"""A bot's fenced save on a real 3-master Valkey Cluster: every key it writes shares the bot's
hash tag, so the one script (state, events, status, equity sample, feed) runs in one slot."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from omegafarm.bots import _history
from omegafarm.bots.config import BotSettings
from omegafarm.bots.lease import Leases
from omegafarm.bots.ledger import OrderUpdate
from omegafarm.bots.live import LiveBot
from omegafarm.store import RedisClient, RedisSettings
from omegafarm.store import keys as _names
from omegafarm.store.testing import ValkeyCluster

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyCluster]:
    # nothing is killed here: a long node timeout keeps a busy machine from resetting links
    servers = ValkeyCluster(tmp_path_factory.mktemp("cluster"), node_timeout_ms=15_000)
    try:
        yield servers.start()
    finally:
        servers.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def client(cluster: ValkeyCluster) -> AsyncIterator[RedisClient]:
    settings = RedisSettings(url=SecretStr(cluster.url), farm="c" + uuid.uuid4().hex[:8])
    redis = RedisClient(settings, metrics_registry=CollectorRegistry())
    await redis.initialize()
    yield redis
    await redis.shutdown()


async def test_a_live_bot_saves_its_state_and_events_on_a_cluster(
    client: RedisClient, tmp_path: Path
) -> None:
    spec = BotSettings(id="cl", strategy="sma_cross", symbol="ETH/USDT", capital=Decimal(1000))
    leases = Leases(client, "w1", 60.0)
    lease = await leases.acquire(spec.id)
    assert lease is not None
    bot = LiveBot(spec, client, leases, lease)
    await bot.start()
    cid = bot._t.order("buy", Decimal(1), None)
    assert cid is not None
    await bot.flush()

    bot._t.order_update(OrderUpdate(cid, "x1", "ETH/USDT", "buy", "market", "closed", Decimal(1),
                                    Decimal(1), Decimal(100), Decimal("0.1"), "USDT", None, 1))  # fmt: skip
    await bot.flush()

    saved = await client.get(_names.bot_state("cl"))
    assert saved["ledger"]["orders"] == {} and saved["ledger"]["position"] == 1
    kinds = [e["kind"] for e in await _history.events(client, "cl")]
    assert kinds == ["fill", "order"]  # the fill, then the finished order
    assert (await client.get(_names.status("cl")))["open_orders"] == 0

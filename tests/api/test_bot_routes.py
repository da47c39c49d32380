"""The bot routes and the ``bots``/``orders``/``tickers`` feed against a running farm: real Redis,
the paper exchange (fast synthetic market), BotFarmService with its gateway and worker, the API
on loopback. A bot that traded shows status, metrics and trades; stop then start moves its
state; an unknown id is a 404 problem; a WebSocket client sees bot events and equity samples."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection, connect

from omegafarm.api import ApiService, ApiSettings
from omegafarm.bots.config import FarmSettings
from omegafarm.bots.service import BotFarmService
from omegafarm.core.registry import ServiceRegistry
from omegafarm.security import Role, SecurityService, read_file
from omegafarm.store import RedisClient, RedisSettings
from tests.api.conftest import PASSWORD, Farm, fast_security_settings
from tests.integration._farm import paper_exchange, wait_for

FARM_FILE = """
[[bots]]
id = "sma_btc"
strategy = "sma_cross"
symbol = "BTC/USDT"
capital = "5000"
params = { fast = 2, slow = 5 }

[[bots]]
id = "sma_eth"
strategy = "sma_cross"
symbol = "ETH/USDT"
capital = "3000"
params = { fast = 2, slow = 6 }
"""


async def start_bot_farm(tmp: Path, redis_url: str) -> Farm:
    """Redis, security, a fast paper exchange, the bot farm (two SMA bots) and the API."""
    metrics = CollectorRegistry()
    redis = RedisClient(
        RedisSettings(url=SecretStr(redis_url), farm="b" + uuid.uuid4().hex[:12]),
        metrics_registry=metrics,
    )
    security = SecurityService(
        fast_security_settings(tmp / "security"), redis=redis, metrics_registry=metrics
    )
    exchange = paper_exchange(tmp)
    (tmp / "farm.toml").write_text(FARM_FILE)
    settings = FarmSettings(farm_file=tmp / "farm.toml", lease_ttl_s=1.5, poll_interval_s=0.1)
    bots = BotFarmService(settings, redis, exchange, audit=security.audit, metrics_registry=metrics)
    registry = ServiceRegistry([redis, security, exchange, bots])
    api = ApiService(ApiSettings(port=0), registry, metrics_registry=metrics)
    registry.add(api)
    await registry.start_all()
    tokens = {}
    for role in Role:
        await security.add_user(role.label, role, PASSWORD, actor="test")
        tokens[role.label] = (await security.create_token(role.label, actor="test")).value
    return Farm(api.url, registry, security, redis, tokens, metrics)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def bot_farm(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> AsyncIterator[Farm]:
    running = await start_bot_farm(tmp_path_factory.mktemp("botfarm"), redis_url)
    yield running
    await running.registry.stop_all()


async def _get(farm: Farm, path: str) -> Any:
    async with farm.client("viewer") as client:
        response = await client.get(path)
    assert response.status_code == 200, response.text
    return response.json()


async def _until(farm: Farm, path: str, check: Callable[[Any], bool], what: str) -> Any:
    """GET ``path`` until ``check`` holds for its JSON (the event), within 30 s."""
    found: list[Any] = []

    async def ok() -> bool:
        found[:] = [await _get(farm, path)]
        return check(found[0])

    await wait_for(ok, 30, what)
    return found[0]


def _traded(metrics: dict[str, Any]) -> bool:
    return metrics["trades"] >= 1 and len(metrics["equity_curve"]["rows"]) >= 3


async def test_the_farm_lists_its_running_bots(bot_farm: Farm) -> None:
    rows = await _until(
        bot_farm,
        "/api/v1/bots",
        lambda rows: all(r["state"] == "running" and r["equity"] is not None for r in rows),
        "both bots running",
    )
    assert [r["id"] for r in rows] == ["sma_btc", "sma_eth"]
    assert {r["symbol"] for r in rows} == {"BTC/USDT", "ETH/USDT"}
    assert all(r["desired"] == "running" and r["worker"] for r in rows)
    farm = await _get(bot_farm, "/api/v1/bots/farm")
    assert farm["bots"] == 2 and farm["states"] == {"running": 2}
    assert farm["workers"] == 1 and farm["bots_here"] == ["sma_btc", "sma_eth"]
    assert farm["silent_bots"] == []
    assert Decimal(farm["equity"]) > 0
    assert isinstance(farm["gateway"]["commands_waiting"], int)  # executed at once here
    repairs = farm["gateway"]["repairs"]  # what the gateway repaired on its own: nothing here
    assert (repairs["push_missed"], repairs["push_missed_recent"]) == (0, 0)
    assert {"stale_updates_dropped", "stream_recovered", "last_push_missed_ms"} <= set(repairs)


async def test_a_bot_that_traded_has_status_metrics_and_trades(bot_farm: Farm) -> None:
    metrics = await _until(
        bot_farm, "/api/v1/bots/sma_btc/metrics", _traded, "a closed trade and 3 equity samples"
    )
    status = await _get(bot_farm, "/api/v1/bots/sma_btc")
    trades = await _get(bot_farm, "/api/v1/bots/sma_btc/trades")
    assert status["spec"]["strategy"] == "sma_cross" and status["status"]["bot_id"] == "sma_btc"
    candles = status["candles"]  # from the worker's heartbeat: it hears candles
    assert candles["worker"] and candles["silent"] is False and candles["last_candle_ms"] > 0
    assert metrics["capital"] == "5000" and metrics["start_equity"] == 5000.0
    assert metrics["equity_curve"]["columns"] == ["ts_ms", "equity", "position", "realized_pnl"]
    curve = metrics["equity_curve"]["rows"]
    assert curve[-1][1] == pytest.approx(metrics["end_equity"])
    assert metrics["total_return"] == pytest.approx(metrics["end_equity"] / 5000.0 - 1.0)
    assert 0.0 <= metrics["max_drawdown"] < 1.0 and metrics["fees"] > 0
    assert metrics["win_rate"] is not None and 0.0 <= metrics["win_rate"] <= 1.0
    closed = [t for t in trades if t["exit_ts_ms"] is not None]
    assert len(closed) >= metrics["trades"] >= 1  # the ledger moved on since the metrics call
    assert {"side", "entry_ts_ms", "entry_price", "amount", "fee", "pnl"} <= set(closed[0])
    assert Decimal(closed[0]["fee"]) > 0


async def test_stop_then_start_changes_the_bots_state(bot_farm: Farm) -> None:
    async with bot_farm.client("trader") as client:
        stopped = await client.post("/api/v1/bots/sma_eth/stop")
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["desired"] == "stopped"
        assert stopped.json()["state"] in ("stopping", "stopped")
        await _until(bot_farm, "/api/v1/bots/sma_eth", _state("stopped"), "sma_eth stopped")
        farm = await _get(bot_farm, "/api/v1/bots/farm")
        assert farm["bots_here"] == ["sma_btc"]
        started = await client.post("/api/v1/bots/sma_eth/start")
        assert started.status_code == 200 and started.json()["desired"] == "running"
    await _until(bot_farm, "/api/v1/bots/sma_eth", _state("running"), "sma_eth running again")
    entries = [e for e in read_file(bot_farm.security.audit.path) if e is not None]
    done = [(e["action"], e["actor"], e["details"].get("bot")) for e in entries]
    assert ("bot_stop", "trader", "sma_eth") in done  # written by the farm, not the route
    assert ("bot_start", "trader", "sma_eth") in done


def _state(wanted: str) -> Callable[[Any], bool]:
    return lambda status: bool(status["state"] == wanted)


async def test_a_viewer_may_not_stop_a_bot(bot_farm: Farm) -> None:
    async with bot_farm.client("viewer") as client:
        refused = await client.post("/api/v1/bots/sma_btc/stop")
    assert refused.status_code == 403


@pytest.mark.parametrize("path", ["", "/metrics", "/trades"], ids=["status", "metrics", "trades"])
async def test_an_unknown_bot_is_a_404_problem(bot_farm: Farm, path: str) -> None:
    async with bot_farm.client("trader") as client:
        response = await client.get(f"/api/v1/bots/nobody{path}")
        started = await client.post("/api/v1/bots/nobody/start")
    for answer in (response, started):
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "nobody" in answer.json()["detail"]


async def _feed(farm: Farm, channels: str) -> ClientConnection:
    url = farm.url.replace("http://", "ws://") + f"/ws?channels={channels}"
    headers = {"Authorization": f"Bearer {farm.tokens['viewer']}"}
    return await connect(url, additional_headers=headers)


async def _first(ws: ClientConnection, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            message: dict[str, Any] = json.loads(await ws.recv())
            if match(message):
                return message


async def test_the_feed_carries_bot_status_and_equity_events(bot_farm: Farm) -> None:
    ws = await _feed(bot_farm, "bots")
    try:
        equity = await _first(ws, lambda m: m["data"].get("kind") == "equity")
        async with bot_farm.client("trader") as client:  # a state change is an event too
            assert (await client.post("/api/v1/bots/sma_btc/stop")).status_code == 200
            stopped = await _first(ws, _status_of("sma_btc", "stopped"))
            assert (await client.post("/api/v1/bots/sma_btc/start")).status_code == 200
            running = await _first(ws, _status_of("sma_btc", "running"))
    finally:
        await ws.close()
    assert equity["channel"] == "bots" and equity["data"]["id"] in ("sma_btc", "sma_eth")
    assert float(equity["data"]["equity"]) > 0 and equity["data"]["ts_ms"] > 0
    assert stopped["data"]["desired"] == "stopped" and stopped["data"]["worker"] is None
    assert running["data"]["desired"] == "running" and running["data"]["worker"]


def _status_of(bot_id: str, state: str) -> Callable[[dict[str, Any]], bool]:
    def match(message: dict[str, Any]) -> bool:
        data = message["data"]
        return bool(
            data.get("kind") == "status" and data["id"] == bot_id and data["state"] == state
        )

    return match


async def test_the_feed_carries_the_gateways_tickers_and_order_events(bot_farm: Farm) -> None:
    ws = await _feed(bot_farm, "tickers,orders")
    try:
        ticker = await _first(ws, lambda m: m["channel"] == "tickers")
        order = await _first(ws, lambda m: m["channel"] == "orders")
    finally:
        await ws.close()
    assert ticker["data"]["symbol"] in ("BTC/USDT", "ETH/USDT") and Decimal(ticker["data"]["last"])
    assert "info" not in ticker["data"]
    assert order["data"]["bot_id"] in ("sma_btc", "sma_eth")
    assert order["data"]["client_order_id"].startswith(order["data"]["bot_id"] + "-")

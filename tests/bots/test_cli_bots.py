"""``omega bots list/stop/start/status`` against a real Redis."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from typer.testing import CliRunner

from omegafarm.bots.config import DEFAULT_BOTS
from omegafarm.bots.service import register_bots
from omegafarm.cli import app
from omegafarm.core.logging import configure_logging
from omegafarm.store import RedisClient, RedisSettings


@pytest.fixture
def farm_env(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    farm = "c" + uuid.uuid4().hex[:10]
    monkeypatch.setenv("OMEGA_REDIS__URL", redis_url)
    monkeypatch.setenv("OMEGA_REDIS__FARM", farm)

    async def register() -> None:
        settings = RedisSettings(url=SecretStr(redis_url), farm=farm)
        async with RedisClient(settings, metrics_registry=CollectorRegistry()) as redis:
            await register_bots(redis, list(DEFAULT_BOTS))

    asyncio.run(register())
    yield farm
    # the commands pointed the log at CliRunner's stream, which is closed now
    configure_logging(stream=sys.__stderr__)


def _desired(runner: CliRunner, bot_id: str) -> object:
    status = runner.invoke(app, ["bots", "status", bot_id])
    assert status.exit_code == 0, status.output
    return json.loads(status.stdout)["desired"]


def test_bots_list_stop_start_and_status(farm_env: str) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["bots", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [b["id"] for b in json.loads(listed.stdout)] == sorted(b.id for b in DEFAULT_BOTS)
    assert runner.invoke(app, ["bots", "stop", "sma_btc"]).exit_code == 0
    assert _desired(runner, "sma_btc") == "stopped"
    assert runner.invoke(app, ["bots", "start", "sma_btc"]).exit_code == 0
    assert _desired(runner, "sma_btc") == "running"
    unknown = runner.invoke(app, ["bots", "stop", "nope"])
    assert unknown.exit_code == 2 and "no bot 'nope'" in unknown.output

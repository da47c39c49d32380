"""``omega bots list/stop/start/status`` against a real Redis."""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from typer.testing import CliRunner

from omegafarm.bots.config import DEFAULT_BOTS
from omegafarm.bots.service import register_bots
from omegafarm.cli import app
from omegafarm.core.logging import configure_logging
from omegafarm.security import read_file
from omegafarm.store import RedisClient, RedisSettings, keys

OFF = DEFAULT_BOTS[0].model_copy(update={"id": "off_bot", "enabled": False})


@pytest.fixture
def farm_env(redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    farm = "c" + uuid.uuid4().hex[:10]
    monkeypatch.setenv("OMEGA_REDIS__URL", redis_url)
    monkeypatch.setenv("OMEGA_REDIS__FARM", farm)
    monkeypatch.setenv("OMEGA_SECURITY__AUDIT_FILE", str(tmp_path / "audit.jsonl"))

    async def register() -> None:
        settings = RedisSettings(url=SecretStr(redis_url), farm=farm)
        async with RedisClient(settings, metrics_registry=CollectorRegistry()) as redis:
            await register_bots(redis, [*DEFAULT_BOTS, OFF])

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
    assert [b["id"] for b in json.loads(listed.stdout)] == sorted(
        b.id for b in (*DEFAULT_BOTS, OFF)
    )
    assert runner.invoke(app, ["bots", "stop", "sma_btc"]).exit_code == 0
    assert _desired(runner, "sma_btc") == "stopped"
    assert runner.invoke(app, ["bots", "start", "sma_btc"]).exit_code == 0
    assert _desired(runner, "sma_btc") == "running"
    unknown = runner.invoke(app, ["bots", "stop", "nope"])
    assert unknown.exit_code == 2 and "no bot 'nope'" in unknown.output


def _audit(tmp_path: Path) -> list[tuple[str, str, str, object]]:
    entries = [e for e in read_file(tmp_path / "audit.jsonl") if e is not None]
    return [(e["action"], e["actor"], e["outcome"], e["details"]["bot"]) for e in entries]


def test_bots_stop_and_start_from_the_cli_are_audited(farm_env: str, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["bots", "stop", "sma_btc"]).exit_code == 0
    assert runner.invoke(app, ["bots", "start", "sma_btc"]).exit_code == 0
    actor = f"cli:{getpass.getuser()}"
    assert _audit(tmp_path) == [
        ("bot_stop", actor, "ok", "sma_btc"),
        ("bot_start", actor, "ok", "sma_btc"),
    ]


def test_a_disabled_bot_cannot_be_stopped_from_the_cli_either(
    farm_env: str, tmp_path: Path
) -> None:
    refused = CliRunner().invoke(app, ["bots", "stop", "off_bot"])
    assert refused.exit_code == 2
    assert "disabled in the farm file" in refused.output
    assert "Traceback" not in refused.output
    assert _audit(tmp_path) == [("bot_stop", f"cli:{getpass.getuser()}", "failed", "off_bot")]


async def test_a_cli_stop_is_published_on_the_live_feed(farm_env: str, redis_url: str) -> None:
    settings = RedisSettings(url=SecretStr(redis_url), farm=farm_env)
    async with RedisClient(settings, metrics_registry=CollectorRegistry()) as redis:
        feed = redis.subscription()
        await feed.subscribe(keys.FEED_BOTS)
        logging_before = structlog.get_config()
        stopped = await asyncio.to_thread(CliRunner().invoke, app, ["bots", "stop", "sma_eth"])
        structlog.configure(**logging_before)  # the run logged onto the runner's closed stream
        assert stopped.exit_code == 0, stopped.output
        message = await feed.get(timeout_s=10)
        await feed.close()
    assert message is not None
    assert message.data["kind"] == "status"
    assert (message.data["id"], message.data["desired"]) == ("sma_eth", "stopped")

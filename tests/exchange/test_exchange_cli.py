"""``omega exchange limits``: budgets of the exchange's buckets and their live use in Redis."""

from __future__ import annotations

import asyncio

from typer.testing import CliRunner

from omegafarm.cli import app
from omegafarm.exchange import ExchangeSettings
from omegafarm.exchange.ratelimit import local_limiter
from omegafarm.exchange.shared_limit import SharedRateLimiter
from omegafarm.store import RedisClient


def test_limits_show_the_budgets_without_redis(cli: CliRunner) -> None:
    result = cli.invoke(
        app, ["exchange", "limits", "--exchange", "binance"], env={"OMEGA_REDIS__URL": ""}
    )
    assert result.exit_code == 0, result.output
    assert "weight:binance" in result.output
    assert "17.00" in result.output  # ccxt's 20 units/s less the 15 % headroom
    assert "orders:binance:default" in result.output


def test_unknown_exchange_is_one_clear_line(cli: CliRunner) -> None:
    result = cli.invoke(app, ["exchange", "limits", "--exchange", "nosuch"])
    assert result.exit_code == 2
    assert "'nosuch' is neither 'paper' nor a ccxt exchange id" in result.output
    assert "Traceback" not in result.output


async def test_limits_read_the_shared_usage(
    redis_client: RedisClient, redis_url: str, cli: CliRunner
) -> None:
    settings = ExchangeSettings(exchange_id="binance")

    async def no_wait(_seconds: float) -> None:
        return None

    shared = SharedRateLimiter(redis_client, local_limiter(settings, 50.0), sleep=no_wait)
    for _ in range(100):  # reserves ~6 s of budget ahead: full for as long as the CLI needs
        await shared.acquire("weight:binance", 1.0)
    env = {"OMEGA_REDIS__URL": redis_url, "OMEGA_REDIS__FARM": redis_client.settings.farm}
    result = await asyncio.to_thread(
        cli.invoke, app, ["exchange", "limits", "--exchange", "binance"], env=env
    )
    assert result.exit_code == 0, result.output
    assert "usage read from the shared Redis" in result.output
    row = next(line for line in result.output.splitlines() if "weight:binance" in line)
    used = float(row.split("│")[4].split("of")[0])
    assert used > 10.0, result.output  # the burst is spent and more is reserved ahead
    assert "(callers queued)" in row

"""Helpers for whole-farm tests: a fast paper exchange, the gateway, bots and the audit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from omegafarm.bots import _history
from omegafarm.bots.config import BotSettings, FarmSettings
from omegafarm.bots.ledger import Ledger, OrderUpdate
from omegafarm.exchange import ExchangeService, ExchangeSettings
from omegafarm.exchange.paper import PaperSettings
from omegafarm.store import RedisClient
from omegafarm.store import keys as _names

SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"]
QUOTE_START = Decimal(1_000_000)


def paper_exchange(tmp: Path, speed: float = 240.0) -> ExchangeService:
    """A paper exchange whose 1m bars close 4 times a second (speed 240)."""
    paper = PaperSettings(
        symbols=SYMBOLS, speed=speed, warmup_bars=200, perpetuals=False,
        initial_balances={"USDT": QUOTE_START},
    )  # fmt: skip
    settings = ExchangeSettings(exchange_id="paper", paper=paper, ohlcv_cache_path=tmp / "c.db")
    return ExchangeService(settings, metrics_registry=CollectorRegistry())


def bots(n: int, strategy: str = "sma_cross") -> list[BotSettings]:
    """``n`` small SMA bots spread over the symbols (several bots share each symbol)."""
    return [
        BotSettings(
            id=f"b{i:02d}",
            strategy=strategy,
            symbol=SYMBOLS[i % len(SYMBOLS)],
            capital=Decimal(20_000),
            params={"fast": 2 + i % 3, "slow": 6 + i % 4},
        )
        for i in range(n)
    ]


def farm_settings(ttl_s: float = 3.0) -> FarmSettings:
    return FarmSettings(lease_ttl_s=ttl_s, poll_interval_s=0.1, history_bars=100)


async def wait_for(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    """Poll ``check`` until it is true (the event), failing after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.05)  # wait-ok: the poll interval of a condition check with a deadline


async def commands_done(redis: RedisClient) -> bool:
    """Every command the bots sent was executed by a gateway (read and acknowledged)."""
    for p in range(int(await redis.get(_names.GATEWAY_PARTITIONS) or 0)):
        if await redis.stream_backlog(_names.partition_commands(p), _names.GATEWAY_GROUP):
            return False
    return True


async def settled(redis: RedisClient, gateway: Any) -> bool:
    """The farm is idle once its bots stopped: every command executed and no order open at
    the gateway. No open order alone is not enough: an order whose command the gateway has
    not read yet is not open there either, and is placed (and filled) after the audit read
    the bots' ledgers."""
    return await commands_done(redis) and not gateway._open


async def audited_ledgers(redis: RedisClient, ids: list[str]) -> dict[str, Ledger]:
    """Each bot's saved ledger plus every update in its stream (replay is idempotent), with
    ``orders`` holding every order: the open ones of the hot state and the finished ones of
    the bot's event stream (the audit window)."""
    out = {}
    for bot_id in ids:
        state: dict[str, Any] = await redis.get(_names.bot_state(bot_id))
        ledger = Ledger.restore(state["ledger"])
        stream = _names.updates(bot_id)
        await redis.stream_group(stream, "audit")
        for m in await redis.stream_read(stream, "audit", "t", count=100_000, block_ms=None):
            update = OrderUpdate(**m.data)
            if ledger.owns(update.client_order_id):
                ledger.apply(update)
        ledger.orders = await _history.all_orders(redis, ledger)
        ledger.reindex()
        out[bot_id] = ledger
    return out

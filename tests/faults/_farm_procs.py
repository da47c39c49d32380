"""Whole farms in real processes (``omega up``, ``omega gateway``, ``omega worker``) on the session
Redis, and the audit of every bot's ledger against the durable paper exchange's saved records."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from omegafarm.bots.ledger import Ledger
from omegafarm.exchange.paper import PaperSettings
from omegafarm.exchange.paper.journal import DurablePaperExchange
from omegafarm.store import RedisClient
from omegafarm.store import keys as _names
from tests.integration._farm import SYMBOLS, audited_ledgers, commands_done, wait_for

QUOTE_START = Decimal(1_000_000)
TTL_S = 2.0
PAPER = PaperSettings(
    symbols=SYMBOLS, speed=240.0, warmup_bars=200, perpetuals=False,
    initial_balances={"USDT": QUOTE_START},
)  # fmt: skip


def write_config(
    tmp: Path, redis_url: str, farm: str, n_bots: int, *, api_port: int | None = None
) -> Path:
    """A farm file with ``n_bots`` fast SMA bots and a config for every process of the farm
    (the API of ``omega up`` off, or on loopback ``api_port`` with its health refreshed often).
    ``redis_url`` "embedded:DIR" means no URL: ``omega up`` runs the embedded Valkey in DIR and
    the other processes adopt it."""
    bots = "".join(
        f'[[bots]]\nid = "b{i:02d}"\nstrategy = "sma_cross"\nsymbol = "{SYMBOLS[i % 4]}"\n'
        f'capital = "20000"\nparams = {{ fast = {2 + i % 3}, slow = {6 + i % 4} }}\n\n'
        for i in range(n_bots)
    )
    farm_file = tmp / "farm.toml"
    farm_file.write_text(bots, encoding="utf-8")
    symbols = ", ".join(f'"{s}"' for s in SYMBOLS)
    config = tmp / "omega.toml"
    api = _api(api_port)
    embedded = redis_url.removeprefix("embedded:")
    where = f'data_dir = "{embedded}"' if embedded != redis_url else f'url = "{redis_url}"'
    config.write_text(
        f"""
[redis]
{where}
farm = "{farm}"

{api}

[alerts]
enabled = false

[security]
data_dir = "{tmp / "security"}"

[education]
db_path = "{tmp / "education.sqlite3"}"

[exchange]
exchange_id = "paper"
ohlcv_cache_path = "{tmp / "ohlcv.sqlite3"}"

[exchange.paper]
symbols = [{symbols}]
speed = 240.0
warmup_bars = 200
perpetuals = false
initial_balances = {{ USDT = "{QUOTE_START}" }}

[bots]
farm_file = "{farm_file}"
lease_ttl_s = {TTL_S}
poll_interval_s = 0.1
history_bars = 100
reconcile_interval_s = 2.0
""",
        encoding="utf-8",
    )
    return config


def _api(port: int | None) -> str:
    if port is None:
        return "[api]\nenabled = false"
    return f"[api]\nport = {port}\nhealth_refresh_s = 0.25"


def spawn(config: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    """``omega -c CONFIG ARGS...`` in a real process (its output in ``log``)."""
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "omegafarm", "--log-level", "warning", "-c", str(config), *args],
            stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ),
        )  # fmt: skip


def kill9(proc: subprocess.Popen[bytes]) -> None:
    """A real SIGKILL: nothing of the process runs after it."""
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            kill9(proc)


async def saved_exchange(redis: RedisClient) -> DurablePaperExchange:
    """The exchange exactly as saved in Redis (a manual clock: nothing moves while we read;
    never written: a standby copy)."""
    ex = await DurablePaperExchange.open(PAPER.model_copy(update={"clock": "manual"}), redis)
    ex.fence(redis.keys.key(_names.GATEWAY_LEASE), None)
    return ex


async def filled_orders(redis: RedisClient) -> int:
    """Orders with a fill in the saved exchange."""
    if not await redis.exists(_names.PAPER_STATE):
        return 0
    return len([o for o in await (await saved_exchange(redis)).fetch_orders() if o["filled"]])


async def open_orders(redis: RedisClient) -> int:
    """Open orders the gateways track, over every command partition."""
    total = 0
    for p in range(int(await redis.get(_names.GATEWAY_PARTITIONS) or 0)):
        total += len(await redis.get(_names.partition_open(p)) or {})
    return total


async def at_least(redis: RedisClient, n: int) -> bool:
    """At least ``n`` orders with a fill in the saved exchange."""
    return await filled_orders(redis) >= n


async def true(value: bool) -> bool:
    """``value`` as a check for :func:`~tests.integration._farm.wait_for`."""
    return value


async def stop_all_and_settle(redis: RedisClient, ids: list[str]) -> None:
    """Stop every bot and wait until none holds a lease, the gateways executed every command
    and no partition has an open order left (the farm idle: what :func:`audit` needs)."""
    for bot_id in ids:
        await redis.set(_names.desired(bot_id), "stopped")

    async def released() -> bool:
        return set((await bot_holders(redis, ids)).values()) == {None}

    async def idle() -> bool:  # every command executed (see settled), then nothing open
        return await commands_done(redis) and await open_orders(redis) == 0

    await wait_for(released, 30, "every bot stopped")
    await wait_for(idle, 30, "commands done, no open orders left at the gateway")


async def gateway_holder(redis: RedisClient) -> str | None:
    value = await redis.get_text(_names.GATEWAY_LEASE)
    return None if value is None else value.split("|")[0]


async def bot_holders(redis: RedisClient, ids: list[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for bot_id in ids:
        value = await redis.get_text(_names.lease(bot_id))
        out[bot_id] = value.split("|")[0] if value else None
    return out


async def audit(redis: RedisClient, ids: list[str]) -> dict[str, Any]:
    """Every ledger against the exchange's records: exact, no duplicate, nothing lost."""
    ledgers: dict[str, Ledger] = await audited_ledgers(redis, ids)
    ex = await saved_exchange(redis)
    orders = await ex.fetch_orders()
    cids = [o["clientOrderId"] for o in orders]
    assert None not in cids
    assert not [c for c, n in Counter(cids).items() if n > 1]  # no client order id placed twice
    for order in orders:  # every exchange order is one bot's, and its fills are all booked
        owner = ledgers[str(order["clientOrderId"]).split("-")[0]]
        assert owner.owns(order["clientOrderId"]), order["clientOrderId"]
        mine = owner.orders[order["clientOrderId"]]
        record = ex._engine.by_client_id[order["clientOrderId"]]  # exact Decimals, not floats
        assert (mine.filled, mine.cost, mine.fee) == (record.filled, record.cost, record.fee)
    known = set(cids)
    for ledger in ledgers.values():  # no ledger order the exchange does not know (no lost one)
        for cid, mine in ledger.orders.items():
            assert mine.order_id is None or cid in known, cid
            assert mine.filled == 0 or cid in known, cid
    delta = sum((lg.cash - lg.capital for lg in ledgers.values()), Decimal(0))
    free, used = ex.balance_of("USDT")
    assert free + used == QUOTE_START + delta  # to the last unit (Decimals, not floats)
    for symbol in SYMBOLS:
        base = symbol.split("/")[0]
        held = sum((lg.position for lg in ledgers.values() if lg.symbol == symbol), Decimal(0))
        assert sum(ex.balance_of(base)) == held, base
    for bot_id in ids:
        halt = await redis.get(_names.halt(bot_id))
        assert halt is None, (bot_id, halt)  # reconciliation agreed with the audit
    return {"orders": len(orders), "fills": len(await ex.fetch_my_trades())}

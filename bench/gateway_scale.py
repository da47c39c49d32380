"""Gateway scale-out: order commands per second with 1 vs several partitions and processes,
and the time a dead gateway's partitions take to move.

Real gateway processes (``tests/bots/_gateway_proc.py``: real ccxt through the Exchange
Service, the farm-wide rate limit on Redis) on an embedded Valkey and a loopback Binance whose
order endpoint answers after ``LATENCY_S`` (a live exchange's round trip; 0.05 s, or
``GWSCALE_LATENCY_S``) and fills the order at once (nothing left to poll). 40 bots send
``COMMANDS`` limit orders in total; a run ends when the exchange has every client order id.

    baseline  1 partition, 1 gateway: the single-stream gateway's concurrency (one command at
              a time for the whole farm)
    rows      6 partitions on 1 gateway; 6 partitions on 3 gateway processes; the same with a
              kill -9 of one gateway process a third of the way in (takeover = kill -> every
              partition it held is held by a live gateway; checked: 0 duplicate client ids)

Usage: python bench/gateway_scale.py [COMMANDS]   (the last line is the JSON summary)
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.exchange._binance import MiniBinance  # noqa: E402  # the loopback Binance

from omegafarm.bots.gateway_partitions import command_stream, farm_partitions  # noqa: E402
from omegafarm.exchange.testing import RecordedRequest, Reply  # noqa: E402
from omegafarm.store import Keys, RedisClient, RedisSettings  # noqa: E402
from omegafarm.store import keys as _names  # noqa: E402

LATENCY_S = float(os.environ.get("GWSCALE_LATENCY_S", "0.05"))
TTL_S = 2.0
N_BOTS = 40


class SlowBinance(MiniBinance):
    """Orders fill at once (nothing is left to poll: the bench measures commands alone) and
    the order endpoint answers after ``LATENCY_S``."""

    async def handle(self, request: RecordedRequest) -> Reply:
        if not (request.path.endswith("/order") and request.method == "POST"):
            return await super().handle(request)
        await asyncio.sleep(LATENCY_S)  # the exchange's round trip
        reply = await super().handle(request)
        if isinstance(reply.body, dict) and "origQty" in reply.body:
            order = reply.body
            order.update(executedQty=order["origQty"], status="FILLED",
                         cummulativeQuoteQty=str(float(order["origQty"]) * 50000))  # fmt: skip
        return reply


def _spawn(url: str, farm: str, exchange_url: str, name: str, log: Path) -> Any:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.bots._gateway_proc", url, farm, exchange_url, name,
             str(TTL_S), "1000"],
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"},
        )  # fmt: skip


async def _until(check: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise SystemExit(f"gateway_scale bench: timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def _holders(redis: RedisClient, count: int) -> dict[int, str | None]:
    out: dict[int, str | None] = {}
    for p in range(count):
        value = await redis.get_text(_names.partition_lease(p))
        out[p] = value.split("|")[0] if value else None
    return out


async def run(
    url: str, partitions: int, gateways: int, commands: int, log: Path, *, kill: bool = False
) -> dict[str, float]:
    farm = "gs" + uuid.uuid4().hex[:8]
    redis = RedisClient(
        RedisSettings(url=SecretStr(url), farm=farm), metrics_registry=CollectorRegistry()
    )
    await redis.initialize()
    venue = SlowBinance()
    out: dict[str, float] = {}
    async with venue.server:
        await farm_partitions(redis, partitions)
        procs = {f"g{i}": _spawn(url, farm, venue.server.url, f"g{i}", log)
                 for i in range(gateways)}  # fmt: skip
        try:

            async def spread() -> bool:
                held = list((await _holders(redis, partitions)).values())
                return None not in held and len(set(held)) == min(gateways, partitions)

            await _until(spread, 180, "the partitions spread over the gateways")
            per_bot = commands // N_BOTS
            t0 = time.monotonic()
            for n in range(1, per_bot + 1):
                for i in range(N_BOTS):
                    bot = f"b{i:02d}"
                    await redis.stream_add(await command_stream(redis, bot), {
                        "kind": "place", "symbol": "BTC/USDT", "side": "buy", "type": "limit",
                        "amount": "0.01", "price": "50000", "bot_id": bot, "cid": f"{bot}-{n}",
                        "token": 1,
                    })  # fmt: skip
            total = per_bot * N_BOTS
            if kill:
                await _until(lambda: _at(venue, total // 3), 120, "a third placed")
                victim = "g1"
                theirs = [p for p, g in (await _holders(redis, partitions)).items() if g == victim]
                t_kill = time.monotonic()
                procs.pop(victim).send_signal(signal.SIGKILL)

                async def moved() -> bool:
                    held = await _holders(redis, partitions)
                    return all(held[p] not in (None, victim) for p in theirs)

                await _until(moved, 60, "the dead gateway's partitions taken over")
                out["takeover_s"] = time.monotonic() - t_kill
            await _until(lambda: _at(venue, total), 300, "every command executed")
            out["commands_per_s"] = total / (time.monotonic() - t0)
            created = venue.created_client_ids
            out["duplicates"] = float(len(created) - len(set(created)))
        finally:
            for proc in procs.values():
                proc.send_signal(signal.SIGTERM)
            for proc in procs.values():
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    keys = await redis.scan("")
    if keys:
        await redis.delete(*keys)
    await redis.shutdown()
    return out


async def _at(venue: MiniBinance, n: int) -> bool:
    return len(set(venue.created_client_ids)) >= n


async def main(commands: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="omega-gwscale-"))
    server = RedisClient(
        RedisSettings(data_dir=tmp / "valkey", farm="bench"), metrics_registry=CollectorRegistry()
    )
    await server.initialize()
    assert server.embedded is not None
    url = server.embedded.address.url()
    log = tmp / "gateways.log"
    rows: dict[str, dict[str, float]] = {}
    try:
        rows["1 partition, 1 gateway"] = await run(url, 1, 1, commands, log)
        rows["6 partitions, 1 gateway"] = await run(url, 6, 1, commands, log)
        rows["6 partitions, 3 gateways"] = await run(url, 6, 3, commands, log)
        rows["6 partitions, 3 gateways, kill -9 of one"] = await run(
            url, 6, 3, commands, log, kill=True
        )
    finally:
        await server.shutdown()
    for name, row in rows.items():
        print(f"{name:<42} " + ", ".join(f"{k} {v:.2f}" for k, v in row.items()))
    base = rows["1 partition, 1 gateway"]["commands_per_s"]
    ours = rows["6 partitions, 3 gateways"]["commands_per_s"]
    print(json.dumps({
        "bench": "gateway_scale", "ours": round(ours, 1), "baseline": round(base, 1),
        "baseline_name": "1 partition on 1 gateway (the single-stream gateway); ours: 6 "
                         "partitions on 3 gateway processes",
        "unit": "commands/s", "ratio": round(ours / base, 2), "better": "higher",
        "rows": {k: {m: round(v, 3) for m, v in r.items()} for k, r in rows.items()},
        "lease_ttl_s": TTL_S, "exchange_latency_s": LATENCY_S, "load": os.getloadavg()[0],
    }))  # fmt: skip


if __name__ == "__main__":
    Keys()  # fail early on a broken install
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 400))

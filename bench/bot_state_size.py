"""Bytes a bot writes per event after 10 and after 10,000 orders: the hot state plus its
events (this version) against the whole ledger the farm saved before (every order, the last
500 fills and trades), measured in the same run on the same orders.

    python bench/bot_state_size.py [--orders 10000]
    python bench/bot_state_size.py --live [--orders 10000]   # a LiveBot on embedded Valkey

``--live`` runs a real :class:`LiveBot` (its lease, its fenced save script, the place commands
to the gateway stream) on an embedded Valkey and reports the bytes of the script's arguments
per save (hot state, events, status record, equity sample), after 10 orders and after all.

Each order is registered (pending), acknowledged and filled; buys and sells alternate, so
every second order closes a round trip. The figure is the fill's save: the encoded snapshot
plus the encoded events it appends (what ``LiveBot.flush`` hands the fenced script, minus the
status record, whose size does not depend on history either).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from omegafarm.bots.config import BotSettings
from omegafarm.bots.lease import BotWrite, Lease, Leases
from omegafarm.bots.ledger import Ledger, OrderUpdate
from omegafarm.bots.live import LiveBot
from omegafarm.store import RedisClient, RedisSettings, encode

TS = 1_700_000_000_000


def _update(cid: str, side: str, status: str, filled: int, price: int, n: int) -> OrderUpdate:
    cost = Decimal(filled * price)
    return OrderUpdate(cid, None if status == "pending" else f"x{n}", "ETH/USDT", side,
                       "market", status, Decimal(1), Decimal(filled), cost, cost / 1000,
                       "USDT", None, TS + n * 60_000)  # fmt: skip


def _format1(ledger: Ledger) -> dict[str, Any]:
    """The ledger as the previous version saved it (``Ledger.snapshot`` before the stream)."""
    head = {k: v for k, v in ledger.snapshot().items() if k in (
        "bot_id", "symbol", "base", "quote", "capital", "cash", "position", "avg_price",
        "realized_pnl", "fees")}  # fmt: skip
    return {**head, "orders": {k: asdict(v) for k, v in ledger.orders.items()},
            "fills": [asdict(f) for f in ledger.fills[-500:]],
            "trades": [asdict(t) for t in ledger.trades[-500:]]}  # fmt: skip


class _Measured(Leases):
    """The worker's leases, noting the size of every fenced save (the script's arguments)."""

    sizes: list[int]

    async def fenced_save(self, lease: Lease, write: BotWrite) -> bool:
        parts = [write.state, *write.events, write.status or b"", write.sample or b""]
        self.sizes.append(sum(len(p) for p in parts))
        return await super().fenced_save(lease, write)


async def _live(total: int) -> dict[int, int]:
    """Bytes per fill's save of a LiveBot after 10 and after ``total`` orders."""
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisClient(RedisSettings(data_dir=Path(tmp)), metrics_registry=CollectorRegistry())
        await redis.initialize()
        try:
            spec = BotSettings(id="b1", strategy="sma_cross", symbol="ETH/USDT",
                               capital=Decimal(10**6))  # fmt: skip
            leases = _Measured(redis, "bench", 3600.0)
            leases.sizes = []
            lease = await leases.acquire(spec.id)
            if lease is None:
                raise SystemExit("the bot's lease is taken")
            bot = LiveBot(spec, redis, leases, lease)
            await bot.start()
            out: dict[int, int] = {}
            for n in range(1, total + 1):
                side = "buy" if n % 2 else "sell"
                cid = bot._t.order(side, Decimal(1), None)  # type: ignore[arg-type]
                await bot.flush()
                bot._t.order_update(_update(str(cid), side, "closed", 1, 100 + n % 7, n))
                await bot.flush()
                if n in (10, total):
                    out[n] = leases.sizes[-1]
            return out
        finally:
            await redis.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--live", action="store_true", help="a LiveBot on embedded Valkey")
    args = parser.parse_args()
    total = args.orders
    if args.live:
        live = asyncio.run(_live(total))
        print(f"LiveBot fenced save of a fill: after 10 orders {live[10]:,} bytes, after "
              f"{total:,} orders {live[total]:,} bytes")  # fmt: skip
    hot = Ledger("b1", "ETH/USDT", "ETH", "USDT", Decimal(10**6), history=False)
    old = Ledger("b1", "ETH/USDT", "ETH", "USDT", Decimal(10**6))
    marks = sorted({10, 100, 1_000, total} & set(range(1, total + 1)))
    ours: dict[int, int] = {}
    before: dict[int, int] = {}
    for n in range(1, total + 1):
        cid, side, price = f"b1-{n}", "buy" if n % 2 else "sell", 100 + n % 7
        for ledger in (hot, old):
            ledger.register(_update(cid, side, "pending", 0, price, n))
            ledger.apply(_update(cid, side, "open", 0, price, n))
            ledger.apply(_update(cid, side, "closed", 1, price, n))
        events = hot.drain_events()
        if n in marks:
            ours[n] = len(encode(hot.snapshot())) + sum(len(encode(e)) for e in events)
            before[n] = len(encode(_format1(old)))
    for n in marks:
        print(f"after {n:>6} orders: {ours[n]:>9,} bytes per write  (previous format: "
              f"{before[n]:,})")  # fmt: skip
    result = {
        "bench": "bot_state_size", "ours": ours[total], "baseline": before[total],
        "baseline_name": f"previous saved ledger after {total} orders (bytes per write)",
        "unit": "bytes", "ratio": round(before[total] / ours[total], 1), "better": "lower",
        "ours_after_10": ours[marks[0]],
    }  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()

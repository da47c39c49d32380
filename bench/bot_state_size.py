"""Bytes a bot writes per event after 10 and after 10,000 orders: the hot state plus its
events (this version) against the whole ledger the farm saved before (every order, the last
500 fills and trades), measured in the same run on the same orders.

    python bench/bot_state_size.py [--orders 10000]

Each order is registered (pending), acknowledged and filled; buys and sells alternate, so
every second order closes a round trip. The figure is the fill's save: the encoded snapshot
plus the encoded events it appends (what ``LiveBot.flush`` hands the fenced script, minus the
status record, whose size does not depend on history either).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from omegafarm.bots.ledger import Ledger, OrderUpdate
from omegafarm.store import encode

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=10_000)
    total = parser.parse_args().orders
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

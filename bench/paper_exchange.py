"""Order events per second of the paper exchange, against ccxt parsing the same events.

Ours: cycles of four order events on a synthetic BTC/USDT market (1 symbol, candles generated
before timing): create a market order, advance one bar so it fills, create a resting limit
order, cancel it. Each event returns a full ccxt unified order dict, as ExchangeService sees it.

Baseline: ``ccxt.binance().parse_order`` of the same four events as Binance reports them
(NEW market order, FILLED market order with its fill, NEW limit order, CANCELED limit order),
with BTC/USDT loaded. It is the work any ccxt pipeline does per order event without network:
if the ratio is above 1, simulating an event costs less than merely parsing a real one.

Run: ``python bench/paper_exchange.py`` (last line is the JSON summary).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from decimal import Decimal
from typing import Any

import ccxt

from omegafarm.exchange.paper import PaperExchange, PaperSettings

CYCLES = 3000
EVENTS_PER_CYCLE = 4
ROUNDS = 5
SYMBOL = "BTC/USDT"


def _exchange() -> PaperExchange:
    settings = PaperSettings(
        clock="manual",
        symbols=[SYMBOL],
        initial_balances={"USDT": Decimal(10**9), "BTC": Decimal(1000)},
        warmup_bars=50,
    )
    ex = PaperExchange(settings)
    ex.step_to(ex.milliseconds())  # nothing to do, but keeps the call path warm
    return ex


async def _ours_events_per_s() -> float:
    ex = _exchange()
    last = (await ex.fetch_ticker(SYMBOL))["last"]
    far = float(ex.price_to_precision(SYMBOL, last * 0.5))
    # generate the candles the timed loop will consume, so only order handling is timed
    ex._engine.source.candles(SYMBOL, ex.milliseconds() + (CYCLES + 10) * 60_000)
    start = time.perf_counter()
    for i in range(CYCLES):
        created = await ex.create_order(SYMBOL, "market", "buy" if i % 2 else "sell", 0.001)
        ex.advance()
        filled = await ex.fetch_order(created["id"])
        resting = await ex.create_order(SYMBOL, "limit", "buy", 0.001, far)
        await ex.cancel_order(resting["id"], SYMBOL)
        if filled["status"] != "closed":
            raise RuntimeError(f"market order did not fill: {filled['status']}")
    elapsed = time.perf_counter() - start
    return CYCLES * EVENTS_PER_CYCLE / elapsed


def _raw_binance_events() -> list[dict[str, Any]]:
    base = {
        "symbol": "BTCUSDT",
        "orderListId": -1,
        "transactTime": 1704067260000,
        "origQty": "0.00100000",
        "timeInForce": "GTC",
    }
    fill = {
        "price": "42050.93000000",
        "qty": "0.00100000",
        "commission": "0.04205093",
        "commissionAsset": "USDT",
        "tradeId": 56,
    }
    return [
        {**base, "orderId": 1, "clientOrderId": "a1", "price": "0.00000000", "type": "MARKET",
         "side": "BUY", "status": "NEW", "executedQty": "0", "cummulativeQuoteQty": "0"},
        {**base, "orderId": 1, "clientOrderId": "a1", "price": "0.00000000", "type": "MARKET",
         "side": "BUY", "status": "FILLED", "executedQty": "0.00100000",
         "cummulativeQuoteQty": "42.05093000", "fills": [fill]},
        {**base, "orderId": 2, "clientOrderId": "a2", "price": "21000.00000000", "type": "LIMIT",
         "side": "BUY", "status": "NEW", "executedQty": "0", "cummulativeQuoteQty": "0"},
        {**base, "orderId": 2, "clientOrderId": "a2", "price": "21000.00000000", "type": "LIMIT",
         "side": "BUY", "status": "CANCELED", "executedQty": "0", "cummulativeQuoteQty": "0"},
    ]  # fmt: skip


def _baseline_events_per_s(market: dict[str, Any]) -> float:
    binance = ccxt.binance()
    binance.set_markets([market])
    events = _raw_binance_events()
    parsed = binance.parse_order(events[1])
    if parsed["symbol"] != SYMBOL or parsed["status"] != "closed":
        raise RuntimeError(f"baseline parse is wrong: {parsed['symbol']} {parsed['status']}")
    start = time.perf_counter()
    for _ in range(CYCLES):
        for raw in events:
            binance.parse_order(raw)
    elapsed = time.perf_counter() - start
    return CYCLES * EVENTS_PER_CYCLE / elapsed


def main() -> None:
    """Alternate rounds of ours and the baseline; report medians."""
    market = _exchange().markets[SYMBOL]
    ours, base = [], []
    for _ in range(ROUNDS):
        ours.append(asyncio.run(_ours_events_per_s()))
        base.append(_baseline_events_per_s(market))
    ours_m, base_m = statistics.median(ours), statistics.median(base)
    print(f"paper exchange: {ours_m:,.0f} order events/s (rounds: {[round(x) for x in ours]})")
    print(f"ccxt parse_order: {base_m:,.0f} events/s (rounds: {[round(x) for x in base]})")
    summary = {
        "bench": "paper_exchange",
        "ours": round(ours_m, 1),
        "baseline": round(base_m, 1),
        "baseline_name": "ccxt binance.parse_order of the same 4 raw order events (no network)",
        "unit": "order events/s",
        "ratio": round(ours_m / base_m, 3),
        "better": "higher",
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

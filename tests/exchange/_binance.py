"""A tiny stateful Binance spot REST API for the loopback server (klines and orders).

Only the far side of the network is simulated: the requests come from real ccxt through the
real ExchangeService. ``faults`` scripts what happens to the next create requests:
``"timeout_after"`` books the order and answers too late (the client times out although the
order exists), ``"timeout_before"`` answers too late without booking (cancels take ``"timeout_after"`` too), ``"503"`` answers 503
without booking, ``"429"`` answers 429 with ``Retry-After: 1`` without booking.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from decimal import Decimal
from typing import Any

from omegafarm.exchange.testing import LoopbackExchangeServer, RecordedRequest, Reply

HOUR_MS = 3_600_000
T0_MS = 1_700_000_000_000 // HOUR_MS * HOUR_MS


def btc_usdt_market() -> dict[str, Any]:
    """A ccxt market for BTC/USDT on Binance (tick-size precision, realistic limits)."""
    return {
        "id": "BTCUSDT",
        "lowercaseId": "btcusdt",  # ccxt.pro names the streams with it
        "symbol": "BTC/USDT",
        "base": "BTC",
        "quote": "USDT",
        "baseId": "BTC",
        "quoteId": "USDT",
        "type": "spot",
        "spot": True,
        "margin": False,
        "swap": False,
        "future": False,
        "option": False,
        "contract": False,
        "active": True,
        "precision": {"amount": 1e-05, "price": 0.01, "base": 1e-08, "quote": 1e-08},
        "limits": {
            "amount": {"min": 1e-05, "max": 9000.0},
            "price": {"min": 0.01, "max": 1000000.0},
            "cost": {"min": 5.0, "max": 9000000.0},
            "leverage": {"min": None, "max": None},
        },
        "info": {"symbol": "BTCUSDT", "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"]},
    }


class MiniBinance:
    """State and behaviour behind the loopback server; ``server`` is ready after ``start()``."""

    def __init__(self, *, bars: int = 500, missing: tuple[int, ...] = (), overlap: bool = False):
        self.timeout_s = 0.0
        self.faults: deque[str] = deque()
        self.orders: list[dict[str, Any]] = []
        self.created_client_ids: list[str] = []
        self.cancel_requests = 0
        self.trades: list[dict[str, Any]] = []
        self._ids = itertools.count(1000)
        self.candles = {
            T0_MS + i * HOUR_MS: self._kline(T0_MS + i * HOUR_MS, i)
            for i in range(bars)
            if i not in missing
        }
        self.overlap = overlap
        self.server = LoopbackExchangeServer(handler=self.handle)

    @staticmethod
    def _kline(ts: int, i: int) -> list[Any]:
        o = 100.0 + i
        return [ts, str(o), str(o + 2), str(o - 1), str(o + 1), "10.5", ts + HOUR_MS - 1, "0", 1]

    async def handle(self, request: RecordedRequest) -> Reply:
        """Route one request."""
        if request.path.endswith("/klines"):
            return self._klines(request)
        if request.path.endswith("/order") and request.method == "POST":
            return self._create(request)
        if request.path.endswith("/order") and request.method == "DELETE":
            return self._cancel(request)
        if request.path.endswith("/ticker/24hr"):
            return Reply([self.ticker()])
        if request.path.endswith("/myTrades"):
            return Reply(list(self.trades))
        if request.path.endswith("/order") and request.method == "GET":
            found = self._find(request.param("orderId"))
            client_id = request.param("origClientOrderId")
            if client_id is not None:
                found = next((o for o in self.orders if o["clientOrderId"] == client_id), None)
            if found is None:
                return Reply({"code": -2013, "msg": "Order does not exist."}, status=400)
            return Reply(found)
        if request.path.endswith("/openOrders"):
            return Reply([o for o in self.orders if o["status"] == "NEW"])
        if request.path.endswith("/allOrders"):
            return Reply(list(self.orders))
        return Reply({"code": -1100, "msg": f"unknown path {request.path}"}, status=400)

    def _klines(self, request: RecordedRequest) -> Reply:
        limit = int(request.param("limit") or 500)
        start = request.param("startTime")
        times = sorted(self.candles)
        after = [t for t in times if start is None or t >= int(start)]
        chosen = after[-limit:] if start is None else after[:limit]
        rows = [self.candles[t] for t in chosen]
        if self.overlap and rows:
            rows.insert(1, rows[0])  # some venues repeat a bar at page boundaries
        return Reply(rows)

    def ticker(self) -> dict[str, Any]:
        """Binance's 24 h ticker of BTCUSDT from the newest candle."""
        row = self.candles[max(self.candles)]
        now = int(time.time() * 1000)
        return {
            "symbol": "BTCUSDT", "lastPrice": row[4], "bidPrice": row[4], "askPrice": row[4],
            "openPrice": row[1], "highPrice": row[2], "lowPrice": row[3], "volume": row[5],
            "quoteVolume": "0", "openTime": now - 86_400_000, "closeTime": now, "count": 1,
        }  # fmt: skip

    def fill(self, client_id: str, qty: str, price: str) -> None:
        """Execute ``qty`` of an order at ``price`` (one trade; FILLED when nothing is left)."""
        order = next(o for o in self.orders if o["clientOrderId"] == client_id)
        done = Decimal(order["executedQty"]) + Decimal(qty)
        order["executedQty"] = str(done)
        quote = Decimal(order["cummulativeQuoteQty"]) + Decimal(qty) * Decimal(price)
        order["cummulativeQuoteQty"] = str(quote)
        order["status"] = "FILLED" if done >= Decimal(order["origQty"]) else "PARTIALLY_FILLED"
        self.trades.append({
            "symbol": order["symbol"], "id": len(self.trades) + 1, "orderId": order["orderId"],
            "price": price, "qty": qty, "quoteQty": str(Decimal(qty) * Decimal(price)),
            "commission": "0", "commissionAsset": "USDT", "time": int(time.time() * 1000),
            "isBuyer": order["side"] == "BUY", "isMaker": False, "isBestMatch": True,
        })  # fmt: skip

    def _find(self, order_id: str | None) -> dict[str, Any] | None:
        return next((o for o in self.orders if str(o["orderId"]) == order_id), None)

    def _cancel(self, request: RecordedRequest) -> Reply:
        fault = self.faults.popleft() if self.faults else None
        order = self._find(request.param("orderId"))
        if order is None or order["status"] != "NEW":
            return Reply({"code": -2013, "msg": "Order does not exist."}, status=400)
        order["status"] = "CANCELED"
        self.cancel_requests += 1
        if fault == "timeout_after":
            return Reply(order, delay_s=self.timeout_s * 3 + 0.5)
        return Reply(order)

    def _create(self, request: RecordedRequest) -> Reply:
        fault = self.faults.popleft() if self.faults else None
        late = self.timeout_s * 3 + 0.5
        if fault == "timeout_before":
            return Reply({"code": -1007, "msg": "late"}, delay_s=late)
        if fault == "503":
            return Reply("Service Unavailable", status=503)
        if fault == "429":
            return Reply(
                {"code": -1003, "msg": "Too many requests"},
                status=429,
                headers={"Retry-After": "1"},
            )
        client_id = request.param("newClientOrderId") or ""
        now_ms = int(time.time() * 1000)
        order = {
            "symbol": request.param("symbol"),
            "orderId": next(self._ids),
            "clientOrderId": client_id,
            "price": request.param("price") or "0",
            "origQty": request.param("quantity"),
            "executedQty": "0",
            "cummulativeQuoteQty": "0",
            "status": "NEW",
            "timeInForce": "GTC",
            "type": (request.param("type") or "LIMIT").upper(),
            "side": (request.param("side") or "BUY").upper(),
            "time": now_ms,
            "updateTime": now_ms,
            "workingTime": now_ms,
        }
        self.orders.append(order)
        self.created_client_ids.append(client_id)
        if fault == "timeout_after":
            return Reply(order, delay_s=late)
        return Reply(order)

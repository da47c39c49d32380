"""A loopback WebSocket server speaking Binance's spot stream format (tests and benchmarks).

The far side of ccxt.pro's Binance streams, on 127.0.0.1: market streams on ``/ws/<n>``
(``SUBSCRIBE`` requests answered, ``kline``, ``24hrTicker`` events sent to the connections that
subscribed) and the WebSocket API on ``/ws-api/v3`` (``userDataStream.subscribe.signature``
answered, ``executionReport`` events sent wrapped as ``{"subscriptionId", "event"}``). Faults:
:meth:`drop` cuts every socket (no close frame, as a network failure does) and ``refusing``
answers new connections with 503 until cleared. Point a service at it with
``ExchangeSettings(stream_base_url=server.url)``; REST stays on
:class:`~omegafarm.exchange.testing.LoopbackExchangeServer`. Public, like that one.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

from aiohttp import WSMsgType, web

from omegafarm.exchange._loopback import LoopbackServer

__all__ = ["LoopbackBinanceStream", "execution_report"]


class LoopbackBinanceStream(LoopbackServer):
    """Binance spot streams on loopback; an async context manager."""

    _what = "the loopback stream server"

    def __init__(self) -> None:
        super().__init__()
        self._market: dict[web.WebSocketResponse, set[str]] = {}  # socket -> stream names
        self._user: dict[web.WebSocketResponse, int] = {}  # socket -> subscription id
        self._changed = asyncio.Condition()
        self.refusing = False
        self.connections = 0
        self.sent: list[tuple[float, dict[str, Any]]] = []  # (perf_counter at send, event)

    @property
    def url(self) -> str:
        """Base URL (``stream_base_url``), e.g. ``ws://127.0.0.1:43121/stream``: ccxt tells a
        spot socket from a futures one by ``/stream`` in its URL (``stream.binance.com``)."""
        return f"ws://127.0.0.1:{self._port}/stream"

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/stream/ws-api/v3", self._serve_user)
        app.router.add_get("/stream/ws/{tail:.*}", self._serve_market)
        app.router.add_get("/stream/ws", self._serve_market)

    def _closing_hook(self) -> None:
        """Close every socket."""
        self.drop()

    # ----------------------------------------------------------------- what tests wait on
    def subscribed(self, stream: str) -> bool:
        """Whether some connection subscribed ``stream`` (``btcusdt@kline_1h``; ``user``: the
        user data stream)."""
        if stream == "user":
            return bool(self._user)
        return any(stream in names for names in self._market.values())

    async def wait_subscribed(self, streams: Sequence[str], timeout_s: float = 10.0) -> None:
        """Until every one of ``streams`` is subscribed (TimeoutError after ``timeout_s``)."""
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: all(self.subscribed(s) for s in streams))

    def drop(self) -> None:
        """Cut every connection at once (the transport closes: no close frame)."""
        for ws in [*self._market, *self._user]:
            transport = getattr(getattr(ws, "_req", None), "transport", None)
            if transport is not None:
                transport.abort()
        self._market.clear()
        self._user.clear()

    # ----------------------------------------------------------------- events
    async def kline(self, symbol_id: str, interval: str, row: Sequence[float], *,
                    closed: bool, interval_ms: int) -> int:  # fmt: skip
        """A ``kline`` event of bar ``row`` ([ts, o, h, l, c, v]); returns sockets reached."""
        ts = int(row[0])
        event = {
            "e": "kline", "E": _now_ms(), "s": symbol_id,
            "k": {"t": ts, "T": ts + interval_ms - 1, "s": symbol_id, "i": interval,
                  "f": 1, "L": 2, "o": str(row[1]), "c": str(row[4]), "h": str(row[2]),
                  "l": str(row[3]), "v": str(row[5]), "n": 2, "x": closed, "q": "0",
                  "V": "0", "Q": "0", "B": "0"},
        }  # fmt: skip
        return await self._market_send(f"{symbol_id.lower()}@kline_{interval}", event)

    async def ticker(self, symbol_id: str, last: str, *, bid: str, ask: str) -> int:
        """A ``24hrTicker`` event; returns sockets reached."""
        now = _now_ms()
        event = {
            "e": "24hrTicker", "E": now, "s": symbol_id, "p": "0", "P": "0", "w": last,
            "x": last, "c": last, "Q": "1", "b": bid, "B": "1", "a": ask, "A": "1", "o": last,
            "h": last, "l": last, "v": "100", "q": "1000", "O": now - 86_400_000, "C": now,
            "F": 1, "L": 2, "n": 2,
        }  # fmt: skip
        return await self._market_send(f"{symbol_id.lower()}@ticker", event)

    async def user_event(self, event: dict[str, Any]) -> int:
        """An event of the user data stream (e.g. :func:`execution_report`)."""
        reached = 0
        for ws, sub_id in list(self._user.items()):
            reached += await self._send(ws, {"subscriptionId": sub_id, "event": event})
        return reached

    async def _market_send(self, stream: str, event: dict[str, Any]) -> int:
        reached = 0
        for ws, names in list(self._market.items()):
            if stream in names:
                reached += await self._send(ws, event)
        return reached

    async def _send(self, ws: web.WebSocketResponse, message: dict[str, Any]) -> int:
        try:
            await ws.send_str(json.dumps(message))
        except (ConnectionError, RuntimeError):  # the socket went away meanwhile
            return 0
        self.sent.append((time.perf_counter(), message))
        return 1

    # ----------------------------------------------------------------- connections
    async def _accept(self, request: web.Request) -> web.WebSocketResponse | None:
        if self.refusing:
            return None
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections += 1
        return ws

    async def _serve_market(self, request: web.Request) -> web.StreamResponse:
        ws = await self._accept(request)
        if ws is None:
            return web.Response(status=503, text="refusing connections")
        self._market[ws] = set()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                names = self._market.get(ws)
                if names is None:
                    break
                if data.get("method") == "SUBSCRIBE":
                    names.update(str(p) for p in data.get("params", []))
                elif data.get("method") == "UNSUBSCRIBE":
                    names.difference_update(str(p) for p in data.get("params", []))
                await ws.send_str(json.dumps({"result": None, "id": data.get("id")}))
                await self._notify()
        finally:
            self._market.pop(ws, None)
        return ws

    async def _serve_user(self, request: web.Request) -> web.StreamResponse:
        ws = await self._accept(request)
        if ws is None:
            return web.Response(status=503, text="refusing connections")
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                if data.get("method") == "userDataStream.subscribe.signature":
                    sub_id = len(self._user)
                    reply = {
                        "id": data.get("id"),
                        "status": 200,
                        "result": {"subscriptionId": sub_id},
                    }
                    await ws.send_str(json.dumps(reply))
                    self._user[ws] = sub_id
                    await self._notify()
                else:
                    error = {"code": -1, "msg": f"not simulated: {data.get('method')}"}
                    await ws.send_str(
                        json.dumps({"id": data.get("id"), "status": 400, "error": error})
                    )
        finally:
            self._user.pop(ws, None)
        return ws

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()


def execution_report(order: dict[str, Any], *, last_qty: str = "0", last_price: str = "0",
                     execution: str = "TRADE") -> dict[str, Any]:  # fmt: skip
    """Binance's ``executionReport`` for an order in its REST shape (``orderId``,
    ``clientOrderId``, ``status``, ``executedQty``, ...), after one execution."""
    now = _now_ms()
    return {
        "e": "executionReport", "E": now, "s": order["symbol"], "c": order["clientOrderId"],
        "S": order["side"], "o": order["type"], "f": order.get("timeInForce", "GTC"),
        "q": order["origQty"], "p": order["price"], "P": "0.00000000", "F": "0.00000000",
        "g": -1, "C": "", "x": execution, "X": order["status"], "r": "NONE",
        "i": order["orderId"], "l": last_qty, "z": order["executedQty"], "L": last_price,
        "n": "0", "N": None, "T": now, "t": 1 if execution == "TRADE" else -1, "I": 1,
        "w": order["status"] in ("NEW", "PARTIALLY_FILLED"), "m": False, "M": False,
        "O": order.get("time", now), "Z": order["cummulativeQuoteQty"],
        "Y": str(float(last_qty) * float(last_price)), "Q": "0.00000000",
    }  # fmt: skip


def _now_ms() -> int:
    return int(time.time() * 1000)

"""Order methods of the paper exchange, with ccxt's names, signatures and unified dicts.

A mixin of ``PaperExchange``: it validates what ccxt would validate, hands the order to the
engine, and answers queries about orders and fills. A ``clientOrderId`` that is already known
returns the existing order instead of placing a second one (idempotency), and
``fetch_order`` finds an order by ``params["clientOrderId"]`` too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from omegafarm.exchange.paper import _ccxt as ccxt
from omegafarm.exchange.paper import _structures as st
from omegafarm.exchange.paper._engine import Engine
from omegafarm.exchange.paper._state import Fill, Order, PaperMarket, Side, TimeInForce

Params = Mapping[str, Any]
_TIF: dict[str, TimeInForce] = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "PO": "PO"}
_TRIGGERS = frozenset(("triggerPrice", "stopPrice", "stopLossPrice"))


class PaperOrders:
    """The order half of ``PaperExchange`` (a mixin: the exchange sets the attributes)."""

    _engine: Engine
    _sync: Callable[[], None]  # from PaperClock: catch the clock up before answering

    def _market(self, symbol: str) -> PaperMarket:
        found = self._engine.markets.get(symbol)
        if found is None:
            raise ccxt.BadSymbol(f"paper does not have market symbol {symbol}")
        return found

    def _order(self, order_id: str | None, params: Params) -> Order:
        client_id = params.get("clientOrderId") or params.get("origClientOrderId")
        found = self._engine.orders.get(str(order_id)) if order_id else None
        if found is None and client_id is not None:
            found = self._engine.by_client_id.get(str(client_id))
        if found is None:
            raise ccxt.OrderNotFound(f"paper: order {order_id or client_id} not found")
        return found

    # ------------------------------------------------------------------ orders
    def submit(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: float,
        price: float | None = None,
        params: Params | None = None,
    ) -> Order:
        """``create_order`` without the coroutine and the dict: the engine's own record.

        The paper venue and the backtest call this directly; errors are ccxt's classes."""
        self._sync()
        params = params or {}
        client_id = params.get("clientOrderId")
        if client_id is not None and str(client_id) in self._engine.by_client_id:
            return self._engine.by_client_id[str(client_id)]
        market = self._market(symbol)
        if type not in ("market", "limit"):
            raise ccxt.NotSupported(f"paper: order type {type!r} (only market and limit)")
        if not _TRIGGERS.isdisjoint(params) and any(params.get(k) is not None for k in _TRIGGERS):
            raise ccxt.NotSupported("paper: trigger/stop orders are not simulated")
        if side not in ("buy", "sell"):
            raise ccxt.InvalidOrder(f"paper: side must be buy or sell, not {side!r}")
        tif = _TIF.get(str(params.get("timeInForce", "GTC")).upper())
        if tif is None:
            raise ccxt.InvalidOrder(f"paper: timeInForce {params.get('timeInForce')!r}")
        if params.get("postOnly"):
            tif = "PO"
        reduce_only = bool(params.get("reduceOnly", False))
        if reduce_only and not market.swap:
            raise ccxt.InvalidOrder(f"paper: reduceOnly applies to swaps, not {symbol}")
        order_side: Side = "buy" if side == "buy" else "sell"
        return self._engine.place(
            market,
            "market" if type == "market" else "limit",
            order_side,
            float(amount),
            None if price is None else float(price),
            tif,
            reduce_only,
            None if client_id is None else str(client_id),
        )

    def cancel_now(self, id: str, params: Params | None = None) -> Order:
        """``cancel_order`` without the coroutine and the dict (ccxt.OrderNotFound if ended)."""
        self._sync()
        order = self._order(id, params or {})
        self._engine.cancel(order)
        return order

    def order_now(self, id: str, params: Params | None = None) -> Order:
        """``fetch_order`` without the coroutine and the dict."""
        self._sync()
        return self._order(id, params or {})

    async def create_order(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: float,
        price: float | None = None,
        params: Params | None = None,
    ) -> dict[str, Any]:
        """Queue an order; it fills on later bars. A known clientOrderId returns that order."""
        return st.order_dict(self.submit(symbol, type, side, amount, price, params))

    async def create_market_order(
        self,
        symbol: str,
        side: str,
        amount: float,
        price: float | None = None,
        params: Params | None = None,
    ) -> dict[str, Any]:
        """A market order (ccxt's convenience method)."""
        return await self.create_order(symbol, "market", side, amount, price, params)

    async def create_limit_order(
        self, symbol: str, side: str, amount: float, price: float, params: Params | None = None
    ) -> dict[str, Any]:
        """A limit order (ccxt's convenience method)."""
        return await self.create_order(symbol, "limit", side, amount, price, params)

    async def cancel_order(
        self,
        id: str,
        symbol: str | None = None,
        params: Params | None = None,
    ) -> dict[str, Any]:
        """Cancel an open order; a closed or unknown one raises ccxt.OrderNotFound."""
        return st.order_dict(self.cancel_now(id, params))

    async def cancel_all_orders(
        self, symbol: str | None = None, params: Params | None = None
    ) -> list[dict[str, Any]]:
        """Cancel every open order (of ``symbol``)."""
        self._sync()
        open_orders = [o for o in self._select(symbol) if o.status == "open"]
        for order in open_orders:
            self._engine.cancel(order)
        return [st.order_dict(o) for o in open_orders]

    async def fetch_order(
        self,
        id: str,
        symbol: str | None = None,
        params: Params | None = None,
    ) -> dict[str, Any]:
        """One order by id, or by ``params['clientOrderId']``."""
        return st.order_dict(self.order_now(id, params))

    def _select(self, symbol: str | None) -> list[Order]:
        if symbol is not None:
            self._market(symbol)
        return [
            o for o in self._engine.orders.values() if symbol is None or o.market.symbol == symbol
        ]

    def orders_now(self, symbol: str | None, status: str) -> list[Order]:
        """Orders of ``symbol`` that are ``open``, ``ended`` or (``any``) either, oldest first."""
        self._sync()
        return [
            o
            for o in self._select(symbol)
            if status == "any" or (o.status == "open") == (status == "open")
        ]

    def fills_now(self, symbol: str | None) -> list[tuple[Fill, str]]:
        """Our fills (of ``symbol``) with their order's type, oldest first."""
        self._sync()
        if symbol is not None:
            self._market(symbol)
        types = {o.id: o.type for o in self._engine.orders.values()}
        return [
            (f, types[f.order_id])
            for f in self._engine.fills
            if symbol is None or f.symbol == symbol
        ]

    def _listed(
        self, symbol: str | None, since: int | None, limit: int | None, status: str
    ) -> list[dict[str, Any]]:
        orders = self.orders_now(symbol, status)
        return _window([st.order_dict(o) for o in orders], since, limit)

    async def fetch_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params | None = None,
    ) -> list[dict[str, Any]]:
        """Every order (of ``symbol``), oldest first."""
        return self._listed(symbol, since, limit, "any")

    async def fetch_open_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params | None = None,
    ) -> list[dict[str, Any]]:
        """Orders still open."""
        return self._listed(symbol, since, limit, "open")

    async def fetch_closed_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params | None = None,
    ) -> list[dict[str, Any]]:
        """Orders that ended: closed, canceled or rejected."""
        return self._listed(symbol, since, limit, "ended")

    async def fetch_my_trades(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params | None = None,
    ) -> list[dict[str, Any]]:
        """Our fills (of ``symbol``), oldest first."""
        trades = [st.trade_dict(f, kind) for f, kind in self.fills_now(symbol)]
        return _window(trades, since, limit)


def _window(
    items: list[dict[str, Any]], since: int | None, limit: int | None
) -> list[dict[str, Any]]:
    """ccxt's since/limit: from ``since`` the first ``limit``; without it the last ``limit``."""
    if since is not None:
        items = [i for i in items if i["timestamp"] is not None and i["timestamp"] >= since]
        return items[:limit] if limit else items
    return items[-limit:] if limit else items

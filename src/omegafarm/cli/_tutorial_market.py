"""The market a tutorial trades on: the running farm's paper exchange, or a private one.

Beside ``omega up`` a tutorial must use the farm's own paper exchange, so the prices it prints
are the ones the dashboard shows and the orders it places appear there. It reaches that
exchange through the farm's HTTP API with a trader's token (``OMEGA_TOKEN``); without a running
farm (or without a token) it falls back to a private paper exchange in this process and says
so, because that market's prices differ from any farm's.

Both sides offer what the tutorial needs: a ticker, the market's steps (to suggest a price and
a size the exchange accepts), placing an order, and ``fetch_orders`` / ``fetch_candles`` for
the education service's checks.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from omegafarm.core.errors import ValidationError


@dataclass(frozen=True)
class Quote:
    """What the user needs to choose an order: prices and the market's steps."""

    symbol: str
    last: float
    bid: float
    ask: float
    price_step: float
    amount_step: float
    min_amount: float
    min_cost: float

    def price_text(self, value: float) -> str:
        """A price with the market's decimals and thousands separators."""
        return f"{value:,.{_decimals(self.price_step)}f}"

    def amount_text(self, value: float) -> str:
        return f"{value:.{_decimals(self.amount_step)}f}"

    def suggest(self, side: str, away_pct: float = 1.0, cost: float = 20.0) -> tuple[str, str]:
        """(price, amount) of a small limit order ``away_pct`` from the touch, resting in the
        book: a buy below the bid, a sell above the ask, worth about ``cost`` quote units."""
        if side == "buy":
            price = math.floor(self.bid * (1 - away_pct / 100) / self.price_step) * self.price_step
        else:
            price = math.ceil(self.ask * (1 + away_pct / 100) / self.price_step) * self.price_step
        target = max(cost, 2 * self.min_cost) / price
        amount = max(math.ceil(target / self.amount_step) * self.amount_step, self.min_amount)
        return self.price_text(price).replace(",", ""), self.amount_text(amount)


def _decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step))) if step > 0 else 2


class TutorialMarket(Protocol):
    """Where a tutorial reads prices and places orders (see the module docstring)."""

    where: str

    async def quote(self, symbol: str) -> Quote: ...

    async def place(
        self, symbol: str, order_type: str, side: str, amount: float, price: float | None
    ) -> None: ...

    async def fetch_orders(self, symbol: str) -> Sequence[Mapping[str, object]]: ...

    async def fetch_candles(
        self, symbol: str, timeframe: str, limit: int
    ) -> Sequence[Sequence[float]]: ...

    async def close(self) -> None: ...


class FarmMarket:
    """The running farm's paper exchange, through its HTTP API (a trader's token)."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.where = f"the farm's paper exchange ({url}, the prices the dashboard shows)"
        self._http = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=15.0
        )

    async def _get(self, path: str, **params: Any) -> Any:
        response = await self._http.get(path, params=params)
        if response.status_code >= 400:
            raise ValidationError(f"the farm's API refused {path}: {_detail(response)}")
        return response.json()

    async def quote(self, symbol: str) -> Quote:
        ticker = await self._get("/api/v1/exchange/ticker", symbol=symbol)
        markets = await self._get("/api/v1/exchange/markets")
        market: dict[str, Any] = next((m for m in markets if m["symbol"] == symbol), {})
        return Quote(
            symbol, float(ticker["last"]), float(ticker["bid"] or ticker["last"]),
            float(ticker["ask"] or ticker["last"]), float(market.get("price_step") or 0.01),
            float(market.get("amount_step") or 0.0001), float(market.get("min_amount") or 0),
            float(market.get("min_cost") or 0),
        )  # fmt: skip

    async def place(
        self, symbol: str, order_type: str, side: str, amount: float, price: float | None
    ) -> None:
        body = {"symbol": symbol, "type": order_type, "side": side, "amount": str(amount)}
        if price is not None:
            body["price"] = str(price)
        response = await self._http.post("/api/v1/exchange/orders", json=body)
        if response.status_code >= 400:
            raise ValidationError(f"the paper exchange refused the order: {_detail(response)}")

    async def fetch_orders(self, symbol: str) -> Sequence[Mapping[str, object]]:
        found: list[Mapping[str, object]] = await self._get(
            "/api/v1/exchange/orders", symbol=symbol, limit=100
        )
        return found

    async def fetch_candles(
        self, symbol: str, timeframe: str, limit: int
    ) -> Sequence[Sequence[float]]:
        data = await self._get(
            "/api/v1/exchange/candles", symbol=symbol, timeframe=timeframe, limit=max(20, limit)
        )
        rows: list[list[float]] = data["rows"]
        return rows[-limit:]

    async def close(self) -> None:
        await self._http.aclose()


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail") or response.reason_phrase)
    except ValueError:
        return response.reason_phrase


class LocalMarket:
    """A paper exchange private to this process (no farm running, or no token)."""

    def __init__(self, exchange: Any) -> None:
        self._exchange = exchange
        self.where = "a private paper exchange in this process (not the farm's: prices differ)"

    async def quote(self, symbol: str) -> Quote:
        await self._exchange.load_markets()
        ticker = await self._exchange.fetch_ticker(symbol)
        market = self._exchange.market(symbol)
        limits = market.get("limits") or {}
        return Quote(
            symbol, float(ticker["last"]), float(ticker["bid"] or ticker["last"]),
            float(ticker["ask"] or ticker["last"]), float(market["precision"]["price"]),
            float(market["precision"]["amount"]),
            float((limits.get("amount") or {}).get("min") or 0),
            float((limits.get("cost") or {}).get("min") or 0),
        )  # fmt: skip

    async def place(
        self, symbol: str, order_type: str, side: str, amount: float, price: float | None
    ) -> None:
        try:
            await self._exchange.create_order(symbol, order_type, side, amount, price)
        except Exception as exc:  # the exchange's own (ccxt) errors; the cli may not import ccxt
            raise ValidationError(f"the paper exchange refused the order: {exc}") from exc

    async def fetch_orders(self, symbol: str) -> Sequence[Mapping[str, object]]:
        orders: Sequence[Mapping[str, object]] = await self._exchange.fetch_orders(symbol)
        return orders

    async def fetch_candles(
        self, symbol: str, timeframe: str, limit: int
    ) -> Sequence[Sequence[float]]:
        rows: Sequence[Sequence[float]] = await self._exchange.fetch_ohlcv(
            symbol, timeframe=timeframe, limit=limit
        )
        return rows

    async def close(self) -> None:
        await self._exchange.close()


def farm_url(api_settings: Any) -> str | None:
    """The running farm's API URL, when one answers on the configured address."""
    host = "127.0.0.1" if api_settings.host in ("0.0.0.0", "::") else api_settings.host  # noqa: S104  # a listen-all address is reached on loopback
    scheme = "https" if api_settings.tls_certfile else "http"
    url = f"{scheme}://{host}:{api_settings.port}"
    try:
        answered = httpx.get(f"{url}/livez", timeout=1.0, verify=False)  # noqa: S501  # our own farm, possibly with a self-signed certificate
    except httpx.HTTPError:
        return None
    return url if answered.status_code == 200 else None


def token_from_env(name: str) -> str | None:
    """The API token in environment variable ``name`` (None when unset or empty)."""
    value = os.environ.get(name, "").strip()
    return value or None

"""The account's reads (balance, positions, orders, own trades) of ExchangeService.

A mixin so the service module stays readable: each method is one strict ``_fetch`` call, and
``_fetch`` (retries, translation, coalescing) is the service's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from omegafarm.exchange import normalize as nz
from omegafarm.exchange.models import Balance, Order, Position, Trade

T = TypeVar("T")
Params = dict[str, Any] | None


def many(parse: Callable[[object, nz.Ctx], T]) -> Callable[[object, nz.Ctx], list[T]]:
    """A parser of a list of what ``parse`` parses."""
    return lambda raw, ctx: nz.many(raw, ctx, parse)


class AccountReads:
    """Balance, positions, orders and the account's trades."""

    async def _fetch(
        self, method: str, symbol: str | None, parse: Callable[[object, nz.Ctx], T], *args: Any
    ) -> T:
        raise NotImplementedError  # provided by ExchangeService

    async def fetch_balance(self, params: Params = None) -> Balance:
        """Balances of the account."""
        return await self._fetch("fetch_balance", None, nz.balance, params or {})

    async def fetch_positions(
        self, symbols: list[str] | None = None, params: Params = None
    ) -> list[Position]:
        """Open derivatives positions (all, or of ``symbols``)."""
        return await self._fetch("fetch_positions", None, many(nz.position), symbols, params or {})

    async def fetch_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params = None,
    ) -> list[Order]:
        """Orders of the account, open and closed."""
        args = (symbol, since, limit, params or {})
        return await self._fetch("fetch_orders", symbol, many(nz.order), *args)

    async def fetch_open_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params = None,
    ) -> list[Order]:
        """Open orders of the account."""
        args = (symbol, since, limit, params or {})
        return await self._fetch("fetch_open_orders", symbol, many(nz.order), *args)

    async def fetch_closed_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params = None,
    ) -> list[Order]:
        """Closed (filled or cancelled) orders of the account."""
        args = (symbol, since, limit, params or {})
        return await self._fetch("fetch_closed_orders", symbol, many(nz.order), *args)

    async def fetch_order(self, id: str, symbol: str | None = None, params: Params = None) -> Order:
        """One order by exchange id."""
        return await self._fetch("fetch_order", symbol, nz.order, id, symbol, params or {})

    async def fetch_my_trades(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params = None,
    ) -> list[Trade]:
        """The account's own fills."""
        args = (symbol, since, limit, params or {})
        return await self._fetch("fetch_my_trades", symbol, many(nz.trade), *args)

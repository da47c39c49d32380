"""The paper venue: the simulated exchange behind the :class:`~omegafarm.exchange.venue.Venue`
port, handing typed models straight from the engine.

Orders, fills and balances (what bots and backtests ask for all the time) are built from the
engine's records directly (:mod:`._models`); markets, tickers, books and positions, asked
rarely, go through the ccxt face and :mod:`~omegafarm.exchange.normalize` so there is one
definition of them. The synchronous ``place``/``cancel``/``order`` are for the backtest, which
runs without an event loop; they raise our errors, already translated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeVar

from omegafarm.exchange import normalize as nz
from omegafarm.exchange.errors import ExchangeCallError
from omegafarm.exchange.models import (
    Balance,
    Market,
    Order,
    OrderBook,
    Position,
    Ticker,
    Trade,
)
from omegafarm.exchange.paper import _ccxt as ccxt
from omegafarm.exchange.paper._models import balance_model, order_model, trade_model
from omegafarm.exchange.paper.config import PaperSettings
from omegafarm.exchange.paper.exchange import PaperExchange
from omegafarm.exchange.stream import StreamKind, VenueStream
from omegafarm.exchange.venue import F64, PAPER_ID, MarketsSnapshot, OrderList, Params

if TYPE_CHECKING:
    from decimal import Decimal

    from omegafarm.exchange.orders import PreparedOrder
    from omegafarm.exchange.paper._state import Order as PaperOrder
    from omegafarm.exchange.ratelimit import RateLimiter

__all__ = ["PaperVenue"]

_STATUS: dict[OrderList, str] = {"all": "any", "open": "open", "closed": "ended"}
_T = TypeVar("_T", Order, Trade)


class PaperVenue:
    """The in-process simulated exchange; no rate limit, no keys, nothing shared."""

    id = PAPER_ID
    rate_interval_ms = 1.0  # no limit (1 ms per unit keeps the limiter's arithmetic finite)
    shares_market_data = False  # each process simulates its own market
    uses_credentials = False
    limits_orders = False
    answers_in_process = True

    def __init__(self, exchange: PaperExchange) -> None:
        self.exchange = exchange
        self._markets: dict[str, Market] | None = None

    @classmethod
    def from_settings(cls, settings: PaperSettings) -> PaperVenue:
        """A paper exchange built from ``settings``."""
        return cls(PaperExchange(settings))

    # ----------------------------------------------------------------- traits and plumbing
    @property
    def client(self) -> PaperExchange:
        """The paper exchange with its ccxt face (clock control, exact balances)."""
        return self.exchange

    @property
    def timeframes(self) -> Mapping[str, str]:
        """Multiples of the source's bar size."""
        return self.exchange.timeframes

    def attach_limiter(self, limiter: RateLimiter) -> None:
        """Nothing to limit: the paper exchange answers in process."""

    def translate(
        self, exc: BaseException, method: str, symbol: str | None, secrets: tuple[str, ...]
    ) -> ExchangeCallError:
        """Our error for what the engine raised (ccxt's classes); bugs are re-raised."""
        from omegafarm.exchange.ccxt_errors import translate  # ccxt's table: on the first error

        return translate(exc, exchange=self.id, method=method, symbol=symbol)

    def now_ms(self) -> int:
        """The simulated now."""
        return self.exchange.milliseconds()

    # ----------------------------------------------------------------- the push side
    @property
    def stream_kinds(self) -> frozenset[StreamKind]:
        """Everything: the engine pushes order changes and closed bars in process."""
        from omegafarm.exchange.paper._push import PaperStream

        return PaperStream.kinds

    def open_stream(self) -> VenueStream:
        """Order changes, candles and tickers pushed by the engine (no polling)."""
        from omegafarm.exchange.paper._push import PaperStream

        return PaperStream(self)

    async def settle(self) -> int:
        """Catch the clock up (orders fill, bars close); the durable venue then saves.
        Returns the simulated now."""
        return self.exchange.milliseconds()

    def timeframe_ms(self, timeframe: str) -> int:
        """ms of one bar of ``timeframe``."""
        return self.exchange.parse_timeframe(timeframe) * 1000

    # ----------------------------------------------------------------- markets
    def has_markets(self) -> bool:
        """Always: the markets are built with the exchange."""
        return True

    async def load_markets(self, reload: bool) -> dict[str, Market]:
        """Every market (they never change, so they are parsed once)."""
        if self._markets is None:
            ctx = nz.Ctx(self.id, "fetch_markets")
            mode = int(self.exchange.precisionMode)
            self._markets = {
                sym: nz.market(m, ctx.at(sym), precision_mode=mode)
                for sym, m in self.exchange.markets.items()
            }
        return dict(self._markets)

    def markets_snapshot(self) -> MarketsSnapshot:
        """The markets as plain data (never shared, but the port asks for it)."""
        return {"markets": dict(self.exchange.markets), "currencies": {}}

    def install_markets(self, snapshot: MarketsSnapshot) -> dict[str, Market]:
        """Nothing to install: a paper exchange's markets are its own."""
        return dict(self._markets or {})

    # ----------------------------------------------------------------- market data
    async def fetch_ticker(self, symbol: str, params: Params) -> Ticker:
        """The 24 h ticker from closed bars."""
        return nz.ticker(await self.exchange.fetch_ticker(symbol), nz.Ctx(self.id, "fetch_ticker"))

    async def fetch_tickers(self, symbols: list[str] | None, params: Params) -> dict[str, Ticker]:
        """Tickers by symbol."""
        raw = await self.exchange.fetch_tickers(symbols)
        return nz.tickers(raw, nz.Ctx(self.id, "fetch_tickers"))

    async def fetch_order_book(self, symbol: str, limit: int | None, params: Params) -> OrderBook:
        """The simulated book."""
        raw = await self.exchange.fetch_order_book(symbol, limit)
        return nz.order_book(raw, nz.Ctx(self.id, "fetch_order_book"))

    async def fetch_trades(
        self, symbol: str, since: int | None, limit: int | None, params: Params
    ) -> list[Trade]:
        """Public trades are not simulated (NotSupported)."""
        await self.exchange.fetch_trades(symbol, since, limit)
        return []  # pragma: no cover  # fetch_trades always raises

    async def fetch_ohlcv(
        self, symbol: str, timeframe: str, since: int | None, limit: int | None, params: Params
    ) -> F64:
        """Closed candles."""
        raw = await self.exchange.fetch_ohlcv(symbol, timeframe, since, limit)
        return nz.ohlcv(raw, nz.Ctx(self.id, "fetch_ohlcv"))

    # ----------------------------------------------------------------- account
    async def fetch_balance(self, params: Params) -> Balance:
        """Free, used and total per currency."""
        wallets, now_ms = self.exchange.wallets_now()
        return balance_model(wallets, now_ms)

    async def fetch_positions(self, symbols: list[str] | None, params: Params) -> list[Position]:
        """Open swap positions."""
        raw = await self.exchange.fetch_positions(symbols)
        return nz.many(raw, nz.Ctx(self.id, "fetch_positions"), nz.position)

    async def fetch_orders(
        self,
        kind: OrderList,
        symbol: str | None,
        since: int | None,
        limit: int | None,
        params: Params,
    ) -> list[Order]:
        """Orders of ``kind`` (``all``, ``open``, ``closed``), oldest first."""
        orders = [order_model(o) for o in self.exchange.orders_now(symbol, _STATUS[kind])]
        return _window(orders, since, limit)

    async def fetch_order(self, id: str, symbol: str | None, params: Params) -> Order:
        """One order by id (or ``params['clientOrderId']``)."""
        return order_model(self.exchange.order_now(id, params))

    async def fetch_my_trades(
        self, symbol: str | None, since: int | None, limit: int | None, params: Params
    ) -> list[Trade]:
        """Our fills."""
        trades = [trade_model(f, kind) for f, kind in self.exchange.fills_now(symbol)]
        return _window(trades, since, limit)

    # ----------------------------------------------------------------- orders
    async def create_order(self, order: PreparedOrder) -> Order:
        """Queue a prepared order (it fills as the clock moves)."""
        params = {**order.params, "clientOrderId": order.client_order_id}
        price = None if order.price is None else float(order.price)
        placed = self.exchange.submit(
            order.symbol, order.type, order.side, float(order.amount), price, params
        )
        return order_model(placed)

    async def find_by_client_id(self, order: PreparedOrder, since_ms: int) -> Order | None:
        """The order with ``order``'s client id (the paper exchange never loses a request)."""
        try:
            found = self.exchange.order_now("", {"clientOrderId": order.client_order_id})
        except ccxt.OrderNotFound:
            return None
        return order_model(found)

    async def cancel_order(self, id: str, symbol: str | None, params: Params) -> Order:
        """Cancel an open order."""
        return order_model(self.exchange.cancel_now(id, params))

    async def close(self) -> None:
        """Nothing to release."""
        await self.exchange.close()

    # ----------------------------------------------------------------- the backtest's calls
    def place(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: Decimal,
        price: Decimal | None,
        client_order_id: str,
    ) -> Order:
        """Queue an order now (no event loop); refusals raise our errors."""
        return order_model(self.place_record(symbol, type, side, amount, price, client_order_id))

    def cancel(self, id: str, symbol: str, client_order_id: str) -> Order:
        """Cancel now; an order that already ended is returned as it is."""
        return order_model(self.cancel_record(id, symbol, client_order_id))

    def order(self, id: str) -> Order:
        """One order now."""
        return order_model(self.order_record(id))

    # the same three handing back the engine's own record (no typed model built): the
    # backtest turns it into a bot update in one step (``bots._convert.update_from_paper``)
    def place_record(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: Decimal,
        price: Decimal | None,
        client_order_id: str,
    ) -> PaperOrder:
        """``place`` as the engine's record."""
        params = {"clientOrderId": client_order_id}
        try:
            return self.exchange.submit(
                symbol, type, side, float(amount), None if price is None else float(price), params
            )
        except ccxt.BaseError as exc:
            raise self.translate(exc, "create_order", symbol, ()) from exc

    def cancel_record(self, id: str, symbol: str, client_order_id: str) -> PaperOrder:
        """``cancel`` as the engine's record."""
        params = {"clientOrderId": client_order_id}
        try:
            return self.exchange.cancel_now(id, params)
        except ccxt.OrderNotFound:  # already filled or gone: its state tells the truth
            return self.exchange.order_now(id, params)

    def order_record(self, id: str) -> PaperOrder:
        """``order`` as the engine's record."""
        return self.exchange.order_now(id)


def _window(items: list[_T], since: int | None, limit: int | None) -> list[_T]:
    """ccxt's since/limit: from ``since`` the first ``limit``; without it the last ``limit``."""
    if since is not None:
        items = [i for i in items if i.timestamp_ms is not None and i.timestamp_ms >= since]
        return items[:limit] if limit else items
    return items[-limit:] if limit else items

"""The ccxt venue: any ccxt exchange behind the :class:`~omegafarm.exchange.venue.Venue` port.

The client is built by :mod:`~omegafarm.exchange.client` (our limiter inside ccxt's request
path, redacted logs, sandbox and URL choices); this adapter turns ccxt's unified dicts into our
models with :mod:`~omegafarm.exchange.normalize`, and ccxt's exceptions into ours with
:func:`~omegafarm.exchange.ccxt_errors.translate`. The client stays untyped inside this module:
no ``Any`` leaves it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from omegafarm.exchange import normalize as nz
from omegafarm.exchange.ccxt_errors import translate
from omegafarm.exchange.ccxt_stream import CcxtStream, stream_kinds_of
from omegafarm.exchange.client import (
    build_ccxt_client,
    build_ccxt_stream_client,
    ccxt_class,
    ccxt_pro_class,
    close_ccxt_client,
)
from omegafarm.exchange.errors import ExchangeCallError, NotSupportedError, redact, where
from omegafarm.exchange.models import (
    Balance,
    Market,
    Order,
    OrderBook,
    Position,
    Ticker,
    Trade,
)
from omegafarm.exchange.stream import StreamKind, VenueStream
from omegafarm.exchange.venue import F64, MarketsSnapshot, OrderList, Params

if TYPE_CHECKING:
    from omegafarm.exchange.config import ExchangeSettings
    from omegafarm.exchange.orders import PreparedOrder
    from omegafarm.exchange.ratelimit import RateLimiter
    from omegafarm.exchange.vault import Credentials

__all__ = ["CcxtVenue", "published_interval_ms"]

_ORDER_LISTS: Final[dict[OrderList, str]] = {
    "all": "fetch_orders",
    "open": "fetch_open_orders",
    "closed": "fetch_closed_orders",
}


class CcxtVenue:
    """A ccxt async exchange object, answering in our models."""

    shares_market_data = True
    uses_credentials = True
    limits_orders = True
    answers_in_process = False

    def __init__(
        self,
        client: Any,
        exchange_id: str,
        *,
        settings: ExchangeSettings | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        """``settings`` and ``credentials`` build the stream client (without them: no streams)."""
        self._client = client
        self.id = exchange_id
        self.rate_interval_ms = _interval_ms(client)
        self._ctx: dict[str, nz.Ctx] = {}
        self._settings, self._credentials = settings, credentials
        self._kinds: frozenset[StreamKind] | None = None

    @classmethod
    def from_settings(
        cls,
        settings: ExchangeSettings,
        *,
        credentials: Credentials | None = None,
        limiter: RateLimiter | None = None,
    ) -> CcxtVenue:
        """The ccxt exchange ``settings`` name, with our limiter, keys and URLs."""
        client = build_ccxt_client(
            settings.exchange_id,
            credentials=credentials,
            limiter=limiter,
            timeout_ms=settings.timeout_ms,
            use_testnet=settings.use_testnet,
            api_base_url=settings.api_base_url,
            options=settings.ccxt_options,
        )
        return cls(client, settings.exchange_id, settings=settings, credentials=credentials)

    # ----------------------------------------------------------------- streams
    @property
    def stream_kinds(self) -> frozenset[StreamKind]:
        """What ccxt.pro can push for this exchange (orders only with keys); nothing when
        streaming is off, or when REST goes to another base URL with no stream URL given."""
        s = self._settings
        if s is None or not s.stream or (s.api_base_url and not s.stream_base_url):
            return frozenset()
        if self._kinds is None:
            klass = ccxt_pro_class(self.id)
            has = klass().has if klass is not None else {}
            self._kinds = stream_kinds_of(has, private=self._credentials is not None)
        return self._kinds

    def open_stream(self) -> VenueStream | None:
        """A new ccxt.pro connection set for this account (None: it can push nothing)."""
        s = self._settings
        if s is None or not self.stream_kinds:
            return None
        client = build_ccxt_stream_client(
            self.id, credentials=self._credentials, timeout_ms=s.timeout_ms,
            use_testnet=s.use_testnet, stream_base_url=s.stream_base_url, options=s.ccxt_options,
        )  # fmt: skip
        secrets = self._credentials.revealed() if self._credentials is not None else ()

        def translate(exc: BaseException, method: str, symbol: str | None) -> ExchangeCallError:
            return self.translate(exc, method, symbol, tuple(secrets))

        return CcxtStream(client, self._client, translate, private=self._credentials is not None)

    # ----------------------------------------------------------------- traits and plumbing
    @property
    def client(self) -> object:
        """The ccxt exchange object itself."""
        client: object = self._client
        return client

    @property
    def timeframes(self) -> Mapping[str, str]:
        """ccxt's ``timeframes`` of the exchange."""
        return dict(self._client.timeframes or {})

    def attach_limiter(self, limiter: RateLimiter) -> None:
        """Every REST request acquires its ccxt cost from ``limiter`` first."""
        self._client.omega_limiter = limiter

    def translate(
        self, exc: BaseException, method: str, symbol: str | None, secrets: tuple[str, ...]
    ) -> ExchangeCallError:
        """Our error for a ccxt exception, secrets scrubbed from it and from the original."""
        if secrets and any(secret in str(exc) for secret in secrets):
            # The original stays chained as __cause__: scrub it too, tracebacks get printed.
            exc.args = (redact(str(exc), secrets),)
        retry_after_s = getattr(exc, "omega_retry_after_s", None)  # set by client.Limited
        return translate(
            exc,
            exchange=self.id,
            method=method,
            symbol=symbol,
            retry_after_s=retry_after_s,
            secrets=secrets,
        )

    def now_ms(self) -> int:
        """The local clock, in ms (ccxt's ``milliseconds()``)."""
        return int(self._client.milliseconds())

    def timeframe_ms(self, timeframe: str) -> int:
        """ccxt's ``parse_timeframe`` in ms."""
        return int(self._client.parse_timeframe(timeframe) * 1000)

    def _c(self, method: str) -> nz.Ctx:
        found = self._ctx.get(method)
        if found is None:
            found = self._ctx[method] = nz.Ctx(self.id, method)
        return found

    # ----------------------------------------------------------------- markets
    def has_markets(self) -> bool:
        """Whether the client holds markets."""
        return bool(self._client.markets)

    async def load_markets(self, reload: bool) -> dict[str, Market]:
        """ccxt's ``load_markets`` as our models."""
        return self._markets(await self._client.load_markets(reload))

    def markets_snapshot(self) -> MarketsSnapshot:
        """What the client loaded (markets and currencies), as plain data for the cache."""
        client = self._client
        return {"markets": dict(client.markets or {}), "currencies": dict(client.currencies or {})}

    def install_markets(self, snapshot: MarketsSnapshot) -> dict[str, Market]:
        """Give the client markets loaded elsewhere, so it never loads them itself."""
        markets: dict[str, Any] = snapshot["markets"]
        self._client.set_markets(list(markets.values()), snapshot.get("currencies") or None)
        return self._markets(self._client.markets)

    def _markets(self, raw: Mapping[str, Any]) -> dict[str, Market]:
        mode = int(self._client.precisionMode or nz.TICK_SIZE)
        ctx = self._c("fetch_markets")
        return {
            str(sym): nz.market(m, ctx.at(str(sym)), precision_mode=mode) for sym, m in raw.items()
        }

    # ----------------------------------------------------------------- market data
    async def fetch_ticker(self, symbol: str, params: Params) -> Ticker:
        """One ticker."""
        raw = await self._client.fetch_ticker(symbol, params)
        return nz.ticker(raw, self._ctx.get("fetch_ticker") or self._c("fetch_ticker"))

    async def fetch_tickers(self, symbols: list[str] | None, params: Params) -> dict[str, Ticker]:
        """Tickers by symbol."""
        raw = await self._client.fetch_tickers(symbols, params)
        return nz.tickers(raw, self._c("fetch_tickers"))

    async def fetch_order_book(self, symbol: str, limit: int | None, params: Params) -> OrderBook:
        """One order book."""
        raw = await self._client.fetch_order_book(symbol, limit, params)
        return nz.order_book(raw, self._c("fetch_order_book"))

    async def fetch_trades(
        self, symbol: str, since: int | None, limit: int | None, params: Params
    ) -> list[Trade]:
        """Public trades."""
        raw = await self._client.fetch_trades(symbol, since, limit, params)
        return nz.many(raw, self._c("fetch_trades"), nz.trade)

    async def fetch_ohlcv(
        self, symbol: str, timeframe: str, since: int | None, limit: int | None, params: Params
    ) -> F64:
        """One page of candles."""
        raw = await self._client.fetch_ohlcv(symbol, timeframe, since, limit, params)
        return nz.ohlcv(raw, self._c("fetch_ohlcv"))

    # ----------------------------------------------------------------- account
    async def fetch_balance(self, params: Params) -> Balance:
        """The account's balances."""
        return nz.balance(await self._client.fetch_balance(params), self._c("fetch_balance"))

    async def fetch_positions(self, symbols: list[str] | None, params: Params) -> list[Position]:
        """Open derivatives positions."""
        raw = await self._client.fetch_positions(symbols, params)
        return nz.many(raw, self._c("fetch_positions"), nz.position)

    async def fetch_orders(
        self,
        kind: OrderList,
        symbol: str | None,
        since: int | None,
        limit: int | None,
        params: Params,
    ) -> list[Order]:
        """Orders of ``kind`` (``all``, ``open``, ``closed``)."""
        method = _ORDER_LISTS[kind]
        raw = await getattr(self._client, method)(symbol, since, limit, params)
        return nz.many(raw, self._c(method), nz.order)

    async def fetch_order(self, id: str, symbol: str | None, params: Params) -> Order:
        """One order by exchange id."""
        raw = await self._client.fetch_order(id, symbol, params)
        return nz.order(raw, self._c("fetch_order"))

    async def fetch_my_trades(
        self, symbol: str | None, since: int | None, limit: int | None, params: Params
    ) -> list[Trade]:
        """The account's fills."""
        raw = await self._client.fetch_my_trades(symbol, since, limit, params)
        return nz.many(raw, self._c("fetch_my_trades"), nz.trade)

    # ----------------------------------------------------------------- orders
    async def create_order(self, order: PreparedOrder) -> Order:
        """One create request with the client order id; fills it in when the venue omits it."""
        params = {**order.params, "clientOrderId": order.client_order_id}
        price = float(order.price) if order.price is not None else None
        raw = await self._client.create_order(
            order.symbol, order.type, order.side, float(order.amount), price, params
        )
        placed = nz.order(raw, self._c("create_order"))
        if placed.client_order_id is None:
            return replace(placed, client_order_id=order.client_order_id)
        return placed

    async def find_by_client_id(self, order: PreparedOrder, since_ms: int) -> Order | None:
        """The order carrying ``order.client_order_id``: open orders first, then closed/all."""
        has = self._client.has or {}
        kinds: list[OrderList] = [
            k for k, m in _ORDER_LISTS.items() if has.get(_camel(m)) and k != "all"
        ]
        if has.get("fetchOrders"):
            kinds.append("all")
        if not kinds:
            raise NotSupportedError(
                f"{where(self.id, 'find_order_by_client_id', order.symbol)}: not supported: "
                "the exchange cannot list orders",
                exchange=self.id,
                method="find_order_by_client_id",
                symbol=order.symbol,
            )
        for kind in kinds[:2]:
            # Open orders are few: no ``since`` filter, which a skewed clock could get wrong.
            since = None if kind == "open" else since_ms
            for item in await self.fetch_orders(kind, order.symbol, since, None, {}):
                if item.client_order_id == order.client_order_id:
                    return item
        return None

    async def cancel_order(self, id: str, symbol: str | None, params: Params) -> Order:
        """Cancel one order."""
        raw = await self._client.cancel_order(id, symbol, params)
        return nz.order(raw, self._c("cancel_order"))

    async def close(self) -> None:
        """Close the client's HTTP session (even when cancelled: ``close_ccxt_client``)."""
        await close_ccxt_client(self._client)


def published_interval_ms(exchange_id: str) -> float:
    """ccxt's ``rateLimit`` of ``exchange_id`` (ms per unit of request cost)."""
    return _interval_ms(ccxt_class(exchange_id)())


def _interval_ms(client: Any) -> float:
    """ms per unit of request cost at the exchange's published rate (1 when it says 0)."""
    return float(client.rateLimit or 1)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)

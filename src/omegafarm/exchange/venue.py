"""The ``Venue`` port: one exchange backend behind ExchangeService, typed models in and out.

Two adapters implement it: :class:`~omegafarm.exchange.ccxt_adapter.CcxtVenue` (any ccxt
exchange, over the network) and :class:`~omegafarm.exchange.paper.PaperVenue` (the simulated
exchange, in process). What differs between them is said once, as attributes of the venue
(``rate_interval_ms``, ``shares_market_data``, ``uses_credentials``, ``limits_orders``,
``answers_in_process``), and the one factory (:mod:`~omegafarm.exchange.factory`) is the only
code that looks at ``exchange_id`` to choose: nothing else asks whether the exchange is
"paper". This module imports no adapter, so the adapters can import it without a cycle.

Errors: a venue raises whatever its library raises; :meth:`Venue.translate` turns that into
our :mod:`~omegafarm.exchange.errors` tree (the call pipeline asks it, once per failure).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

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
from omegafarm.exchange.stream import StreamKind, VenueStream

if TYPE_CHECKING:
    from omegafarm.exchange.orders import PreparedOrder
    from omegafarm.exchange.ratelimit import RateLimiter

F64 = npt.NDArray[np.float64]
Params = Mapping[str, Any]
# What a venue's loaded markets are, as plain data the shared cache can store and reinstall.
MarketsSnapshot = dict[str, Any]
OrderList = Literal["all", "open", "closed"]  # which orders fetch_orders lists
PAPER_ID = "paper"  # the one place the paper venue's name is compared

__all__ = ["F64", "PAPER_ID", "MarketsSnapshot", "OrderList", "Params", "Venue"]


class Venue(Protocol):
    """An exchange as ExchangeService sees it: typed reads and orders, and its traits."""

    id: str
    rate_interval_ms: float
    """ms between two unit-cost requests at the venue's published rate (the limiter's unit)."""
    shares_market_data: bool
    """Whether markets and tickers are one truth for every process (so shared through Redis)."""
    uses_credentials: bool
    """Whether API keys are looked up in the vault."""
    limits_orders: bool
    """Whether orders draw on the account's order bucket of the rate limiter."""
    answers_in_process: bool
    """Whether the venue answers in this process: looking an order up is a memory read (no
    request, no rate weight), so a safety look costs nothing."""

    @property
    def stream_kinds(self) -> frozenset[StreamKind]:
        """What the venue can push (``ohlcv``, ``tickers``, ``orders``); the rest is polled."""
        ...

    def open_stream(self) -> VenueStream | None:
        """The venue's push side (None when it can push nothing): one per call, so one per
        consumer; the farm's gateway is the only one (one connection per account per farm)."""
        ...

    @property
    def client(self) -> object:
        """The ccxt-faced exchange object, for what the service does not wrap."""
        ...

    @property
    def timeframes(self) -> Mapping[str, str]:
        """The candle timeframes the venue offers (empty when it does not say)."""
        ...

    def attach_limiter(self, limiter: RateLimiter) -> None:
        """Make every request of the venue pass ``limiter`` first."""
        ...

    def translate(
        self, exc: BaseException, method: str, symbol: str | None, secrets: tuple[str, ...]
    ) -> ExchangeCallError:
        """Our error for what the venue raised (re-raises what is a bug of ours)."""
        ...

    def now_ms(self) -> int:
        """The venue's now (simulated for the paper venue)."""
        ...

    def timeframe_ms(self, timeframe: str) -> int:
        """Milliseconds of one bar of ``timeframe``."""
        ...

    def has_markets(self) -> bool:
        """Whether markets are loaded."""
        ...

    async def load_markets(self, reload: bool) -> dict[str, Market]:
        """Load (``reload``: again) and return every market by symbol."""
        ...

    def markets_snapshot(self) -> MarketsSnapshot:
        """The loaded markets as plain data (for the shared cache)."""
        ...

    def install_markets(self, snapshot: MarketsSnapshot) -> dict[str, Market]:
        """Use markets another process loaded; returns them."""
        ...

    async def fetch_ticker(self, symbol: str, params: Params) -> Ticker: ...

    async def fetch_tickers(
        self, symbols: list[str] | None, params: Params
    ) -> dict[str, Ticker]: ...

    async def fetch_order_book(
        self, symbol: str, limit: int | None, params: Params
    ) -> OrderBook: ...

    async def fetch_trades(
        self, symbol: str, since: int | None, limit: int | None, params: Params
    ) -> list[Trade]: ...

    async def fetch_ohlcv(
        self, symbol: str, timeframe: str, since: int | None, limit: int | None, params: Params
    ) -> F64: ...

    async def fetch_balance(self, params: Params) -> Balance: ...

    async def fetch_positions(
        self, symbols: list[str] | None, params: Params
    ) -> list[Position]: ...

    async def fetch_orders(
        self,
        kind: OrderList,
        symbol: str | None,
        since: int | None,
        limit: int | None,
        params: Params,
    ) -> list[Order]:
        """Orders of ``kind`` ``all``, ``open`` or ``closed``."""
        ...

    async def fetch_order(self, id: str, symbol: str | None, params: Params) -> Order: ...

    async def fetch_my_trades(
        self, symbol: str | None, since: int | None, limit: int | None, params: Params
    ) -> list[Trade]: ...

    async def create_order(self, order: PreparedOrder) -> Order:
        """Send a prepared order once (the service handles retries and lookups)."""
        ...

    async def find_by_client_id(self, order: PreparedOrder, since_ms: int) -> Order | None:
        """The order placed with ``order``'s client id since ``since_ms``, if any."""
        ...

    async def cancel_order(self, id: str, symbol: str | None, params: Params) -> Order: ...

    async def close(self) -> None:
        """Release connections."""
        ...

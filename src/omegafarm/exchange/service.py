"""ExchangeService: one async interface over a venue (any ccxt exchange, or the paper exchange).

The venue (:mod:`~omegafarm.exchange.venue`: a ccxt adapter or the paper adapter, chosen by one
factory) answers in our models; every call to it goes through the service's
:class:`~omegafarm.exchange.pipeline.CallPipeline` (translation with the exchange, method and
symbol in the message and secrets redacted, bounded retries of reads with backoff and jitter,
coalescing, the farm-wide ticker cache). :mod:`~omegafarm.exchange.assembly` puts keys, venue,
limiter and pipeline together at start. Requests pass the :class:`RateLimiter` inside the
venue; orders go through :mod:`~omegafarm.exchange.order_entry` (``orders.place_once``: never
placed twice); candles come from ``ohlcv_cache``. Given the farm's Redis, markets and tickers
of a venue that shares its market data are shared by every process (``shared_cache``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import platformdirs
from prometheus_client import CollectorRegistry

from omegafarm.core.health import Check, Health, HealthState
from omegafarm.core.metrics import OperationStats
from omegafarm.core.service import BaseService, ServiceState
from omegafarm.exchange import order_entry
from omegafarm.exchange.assembly import assemble, resolve_credentials
from omegafarm.exchange.config import ExchangeSettings
from omegafarm.exchange.errors import BadSymbolError, where
from omegafarm.exchange.metrics import report_rate_limit
from omegafarm.exchange.models import Balance, Market, Order, OrderBook, Position, Ticker, Trade
from omegafarm.exchange.ohlcv_cache import OhlcvCache, fetch_latest, fetch_range
from omegafarm.exchange.pipeline import CallPipeline
from omegafarm.exchange.ratelimit import LocalRateLimiter, RateLimiter, order_bucket, weight_bucket
from omegafarm.exchange.shared_cache import Periodic, SharedMarketData
from omegafarm.exchange.shared_limit import SharedRateLimiter
from omegafarm.exchange.stream import MarketStream, StreamHandlers, StreamKind, StreamSettings
from omegafarm.exchange.vault import Credentials, Vault, VaultError
from omegafarm.exchange.venue import OrderList, Venue
from omegafarm.store import RedisClient

__all__ = ["ExchangeService"]

F64 = npt.NDArray[np.float64]
SleepFn = Callable[[float], Awaitable[None]]
Params = dict[str, Any] | None


class ExchangeService(BaseService[ExchangeSettings]):
    """Markets, prices, balances, positions, candles and orders of one exchange account."""

    name: ClassVar[str] = "exchange"

    def __init__(
        self,
        settings: ExchangeSettings | None = None,
        *,
        credentials: Credentials | None = None,
        vault: Vault | VaultError | None = None,
        rate_limiter: RateLimiter | None = None,
        redis: RedisClient | None = None,
        shared_limit: RedisClient | None = None,
        sleep: SleepFn = asyncio.sleep,
        metrics_registry: CollectorRegistry | None = None,
    ) -> None:
        """``redis`` (or its older name ``shared_limit``): the farm's Redis, for the shared
        rate limit and the shared market data; without it both stay in this process.
        ``vault``: the opened key vault, or the ``VaultError`` that kept it shut (a live
        exchange then runs on public endpoints and its health says why, as a warning)."""
        super().__init__(settings or ExchangeSettings(), metrics_registry=metrics_registry)
        self._credentials = credentials
        self._vault = vault if isinstance(vault, Vault) else None
        self._vault_problem = str(vault) if isinstance(vault, VaultError) else ""
        self._no_credentials = ""  # why a live exchange runs on public endpoints only
        self._limiter = rate_limiter
        self._redis = redis if redis is not None else shared_limit
        if self._redis is not None:  # the shared rate limit lives there: start after it
            self.depends_on = ("redis",)  # type: ignore[misc]  # per-instance
        self._shared = SharedMarketData(None, self.settings.exchange_id)
        self._refresher: Periodic | None = None
        self._sleep = sleep
        self._venue: Venue | None = None
        self._pipe: CallPipeline | None = None
        self._cache: OhlcvCache | None = None
        self._markets: dict[str, Market] = {}
        self._call_stats: dict[str, OperationStats] = {}
        self.accepts_calls = False  # while starting or running (set on every state change)
        report_rate_limit(self, self._metrics.registry)

    @property
    def exchange_id(self) -> str:
        """The configured exchange ('paper' or a ccxt id)."""
        return self.settings.exchange_id

    @property
    def venue(self) -> Venue:
        """The venue this service talks to (after initialize)."""
        self._require_running()
        assert self._venue is not None  # set in initialize, checked by _require_running
        return self._venue

    # ----------------------------------------------------------------- lifecycle
    async def _on_initialize(self) -> None:
        s = self.settings
        self._credentials, self._no_credentials = resolve_credentials(
            s, self._credentials, self._vault, self._vault_problem
        )
        if self._no_credentials:
            self.log_activity(
                "credentials_missing", exchange=s.exchange_id, mode="public",
                reason=self._no_credentials,
            )  # fmt: skip
        parts = await assemble(
            s, self, credentials=self._credentials, limiter=self._limiter, redis=self._redis,
            sleep=self._sleep,
        )  # fmt: skip
        self._venue, self._limiter, self._shared, self._pipe = (
            parts.venue, parts.limiter, parts.shared, parts.pipe
        )  # fmt: skip
        self._cache = OhlcvCache(s.ohlcv_cache_path or _default_cache_path())
        if s.load_markets_on_start:
            try:
                await self.fetch_markets()
            except BaseException:
                await self._on_shutdown()  # a failed start leaves no open session behind
                raise
        if self._shared.enabled and s.markets_refresh_s > 0:  # one process reloads for all

            def failed(exc: Exception) -> None:
                self.handle_error(exc, operation="refresh_markets")

            self._refresher = Periodic(s.markets_refresh_s, self.fetch_markets, failed)
            self._refresher.start()

    async def _on_shutdown(self) -> None:
        """Each part is released even when an earlier one failed or the stop was cancelled."""
        try:
            if self._refresher is not None:
                await self._refresher.stop()
                self._refresher = None
        finally:
            try:
                if self._venue is not None:
                    await self._venue.close()
                self._venue = None
            finally:
                if self._cache is not None:
                    self._cache.close()
                    self._cache = None

    async def fence_writes(self, lease_key: str, value: str | None) -> None:
        """The farm's gateway lease changed: a venue that keeps state of its own (the durable
        paper exchange) reloads it and writes only while ``lease_key`` holds ``value``
        (None: this process is a standby and must not write). Others need nothing."""
        client: Any = self._venue.client if self._venue is not None else None
        fence = getattr(client, "fence", None)
        if fence is None:
            return
        fence(lease_key, value)
        if value is not None:
            await client.take_over()

    @property
    def venue_fenced(self) -> bool:
        """True when the venue keeps state of its own that the gateway lease fences (the
        durable paper exchange): then only the process holding the lease may execute orders. A
        ccxt venue's state is the exchange's own, so any number of processes may send it
        orders; the plain paper exchange is one process's own simulation."""
        client: Any = self._venue.client if self._venue is not None else None
        return getattr(client, "fence", None) is not None

    @property
    def answers_in_process(self) -> bool:
        """True when the venue answers in this process (the paper exchange, durable or not):
        an order look-up is a memory read, so the gateway's safety look at quiet orders is
        free. False for a ccxt venue, where every look-up is a rate-limited request."""
        return self.venue.answers_in_process

    def get_exchange_client(self) -> Any:
        """The underlying ccxt (or paper) exchange object, for what the service does not wrap."""
        return self.venue.client

    async def _check_health(self) -> Health:
        ok = self._venue is not None
        reason = f"{self.exchange_id}: {len(self._markets)} markets loaded"
        limit_problem = (
            self._limiter.degraded_reason if isinstance(self._limiter, SharedRateLimiter) else ""
        )
        if limit_problem:
            reason = f"{reason}; rate limit: {limit_problem}"
        if self._shared.degraded_reason:
            reason = f"{reason}; {self._shared.degraded_reason}"
        checks: tuple[Check, ...] = ()
        if self._no_credentials:
            reason = f"{reason}; public endpoints only: {self._no_credentials}"
            warn = HealthState.WARN
            checks = (Check("exchange", "credentials", warn, output=self._no_credentials),)
        degraded = bool(limit_problem or self._shared.degraded_reason or self._no_credentials)
        return Health(
            self.name, live=True, ready=ok, reason=reason, degraded=degraded, checks=checks
        )

    def rate_limit_usage(self) -> dict[str, float]:
        """Share in use of each bucket this service draws on (0 idle, 1 callers wait)."""
        limiter = self._limiter
        if not isinstance(limiter, LocalRateLimiter | SharedRateLimiter):
            return {}
        buckets = [
            weight_bucket(self.exchange_id),
            order_bucket(self.exchange_id, self.settings.account),
        ]
        return {bucket: float(limiter.used_fraction(bucket)) for bucket in buckets}

    def _extra_metrics(self) -> dict[str, Any]:
        limiter = self._limiter
        waited = None
        if isinstance(limiter, LocalRateLimiter | SharedRateLimiter):
            waited = limiter.waited_s
        return {
            "exchange": self.exchange_id,
            "rate_limit_waited_s": waited,
            "rate_limit_used": self.rate_limit_usage(),
            "market_data_cache": self._shared.stats() if self._shared.enabled else None,
        }

    # ----------------------------------------------------------------- the pipeline's observer
    def check_callable(self) -> None:
        """Calls are allowed while running, and while starting (initialize loads markets)."""
        if self._state not in _CALLABLE:
            self._require_running()  # raises, naming the state

    def _transition(self, new: ServiceState, reason: str) -> None:
        super()._transition(new, reason)
        self.accepts_calls = new in _CALLABLE  # what the pipeline reads on every call

    def record_call(self, operation: str, elapsed_s: float) -> None:
        """Count and time one call (its series are looked up once per operation)."""
        stats, counts = self.call_series(operation)
        stats.record(elapsed_s)
        counts[operation] = counts.get(operation, 0) + 1

    def call_series(self, operation: str) -> tuple[OperationStats, dict[str, int]]:
        """The metric series of ``operation``'s calls, and this service's calls per operation."""
        found = self._call_stats.get(operation)
        if found is None:
            found = self._call_stats[operation] = self._metrics.operation(self.name, operation)
        return found, self._op_counts

    async def _not_started(self) -> Any:
        self._require_running()  # raises: not initialized yet
        raise AssertionError("a running service has a pipeline")  # pragma: no cover

    @property
    def _pipeline(self) -> CallPipeline:
        """The pipeline (its ``call`` checks the state on every call)."""
        pipe = self._pipe
        if pipe is None:
            self._require_running()  # raises: not initialized yet
            raise AssertionError("a running service has a pipeline")  # pragma: no cover
        return pipe

    # ----------------------------------------------------------------- markets and prices
    async def fetch_markets(self, *, reload: bool = True) -> dict[str, Market]:
        """Load (``reload``: again) and return every market by symbol.

        With shared market data, ``reload`` reads the farm's copy in Redis: the exchange is asked
        only when that copy is older than ``markets_refresh_s`` (by one process of the farm).
        """
        markets = await self._pipeline.load_markets(reload)
        self._markets = markets
        return dict(markets)

    async def market(self, symbol: str) -> Market:
        """One market (markets are loaded once when needed)."""
        if symbol not in self._markets:
            await self.fetch_markets(reload=not self._pipeline.venue.has_markets())
        found = self._markets.get(symbol)
        if found is None:
            raise BadSymbolError(
                f"{where(self.exchange_id, 'market', symbol)}: unknown symbol: "
                f"{self.exchange_id} has no market {symbol!r} ({len(self._markets)} loaded)",
                exchange=self.exchange_id,
                method="market",
                symbol=symbol,
            )
        return found

    def fetch_ticker(self, symbol: str, params: Params = None) -> Coroutine[Any, Any, Ticker]:
        """The ticker of one market (await it).

        The pipeline's coroutine itself, not one awaiting it: a price poll is the most frequent
        call there is. Like the other methods it raises only when awaited.
        """
        pipe = self._pipe
        if pipe is None:
            return self._not_started()
        return pipe.read("fetch_ticker", symbol, (symbol, params or {}), pipe.venue.fetch_ticker)

    async def fetch_tickers(
        self, symbols: list[str] | None = None, params: Params = None
    ) -> dict[str, Ticker]:
        """Tickers by symbol (all markets when ``symbols`` is None)."""
        pipe, p = self._pipeline, params or {}
        return await pipe.read("fetch_tickers", None, (symbols, p), pipe.venue.fetch_tickers)

    async def fetch_order_book(
        self, symbol: str, limit: int | None = None, params: Params = None
    ) -> OrderBook:
        """Bids and asks of one market."""
        pipe, p = self._pipeline, params or {}
        return await pipe.read(
            "fetch_order_book", symbol, (symbol, limit, p), pipe.venue.fetch_order_book
        )

    async def fetch_trades(
        self, symbol: str, since: int | None = None, limit: int | None = None, params: Params = None
    ) -> list[Trade]:
        """Recent public trades of one market."""
        pipe, p = self._pipeline, params or {}
        return await pipe.call(
            "fetch_trades", symbol, lambda: pipe.venue.fetch_trades(symbol, since, limit, p)
        )

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: Params = None,
    ) -> F64:
        """Candles (n, 6) float64: paged, deduplicated, gap-free, cached when closed."""
        self._require_running()
        assert self._cache is not None  # set in initialize, checked by _require_running
        pipe, p = self._pipeline, params or {}
        venue = pipe.venue
        tf_ms = venue.timeframe_ms(timeframe)
        variant = json.dumps(p, sort_keys=True, default=str)
        key = (self.exchange_id, symbol, timeframe, variant)

        async def page(page_since: int | None, page_limit: int) -> F64:
            return await pipe.call(
                "fetch_ohlcv",
                symbol,
                lambda: venue.fetch_ohlcv(symbol, timeframe, page_since, page_limit or None, p),
            )

        now_ms = venue.now_ms()  # the paper venue has its own clock
        if since is None:
            return await fetch_latest(
                self._cache, key, page, tf_ms=tf_ms, limit=limit, now_ms=now_ms
            )
        return await fetch_range(
            self._cache,
            key,
            page,
            tf_ms=tf_ms,
            since_ms=since,
            limit=limit,
            now_ms=now_ms,
            page_limit=self.settings.ohlcv_page_limit,
        )

    # ----------------------------------------------------------------- streams
    @property
    def stream_kinds(self) -> frozenset[StreamKind]:
        """What the venue pushes (``ohlcv``, ``tickers``, ``orders``); the rest is polled."""
        return self.venue.stream_kinds if self.settings.stream else frozenset()

    async def open_stream(
        self,
        handlers: StreamHandlers,
        *,
        markets: set[tuple[str, str]],
        orders: bool = True,
        poll_interval_s: float = 1.0,
        ticker_interval_s: float = 1.0,
    ) -> MarketStream:
        """Candles of ``markets``, their tickers and (``orders``) the account's order updates,
        pushed where the venue can (ccxt's WebSocket layer, the paper engine) and polled by
        REST where it cannot or while a stream is down; gaps after a drop are filled by REST.
        Call ``start()`` on it, and ``close()`` when done. Open one per account per farm."""
        self._require_running()
        venue = self.venue
        if self.stream_kinds:
            await self.fetch_markets(reload=False)  # the stream takes the REST client's markets
        s = self.settings
        return MarketStream(
            self.exchange_id, self, venue.open_stream() if self.stream_kinds else None, handlers,
            markets=markets, orders=orders, now_ms=venue.now_ms, timeframe_ms=venue.timeframe_ms,
            settings=StreamSettings(
                poll_interval_s=poll_interval_s, ticker_interval_s=ticker_interval_s,
                settle_s=s.stream_settle_s, confirm_s=10 * s.stream_settle_s,
                backoff_max_s=s.stream_backoff_max_s,
            ),
            metrics_registry=self._metrics.registry,
        )  # fmt: skip

    # ----------------------------------------------------------------- account
    async def fetch_balance(self, params: Params = None) -> Balance:
        """Balances of the account."""
        pipe, p = self._pipeline, params or {}
        return await pipe.read("fetch_balance", None, (p,), pipe.venue.fetch_balance)

    async def fetch_positions(
        self, symbols: list[str] | None = None, params: Params = None
    ) -> list[Position]:
        """Open derivatives positions (all, or of ``symbols``)."""
        pipe, p = self._pipeline, params or {}
        return await pipe.read("fetch_positions", None, (symbols, p), pipe.venue.fetch_positions)

    async def _orders(
        self, kind: OrderList, symbol: str | None, since: int | None, limit: int | None, p: Params
    ) -> list[Order]:
        pipe, method = self._pipeline, _ORDER_METHODS[kind]
        params = p or {}
        return await pipe.call(
            method, symbol, lambda: pipe.venue.fetch_orders(kind, symbol, since, limit, params)
        )

    async def fetch_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params = None,
    ) -> list[Order]:
        """Orders of the account, open and closed."""
        return await self._orders("all", symbol, since, limit, params)

    async def fetch_open_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params = None,
    ) -> list[Order]:
        """Open orders of the account."""
        return await self._orders("open", symbol, since, limit, params)

    async def fetch_closed_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params = None,
    ) -> list[Order]:
        """Closed (filled or cancelled) orders of the account."""
        return await self._orders("closed", symbol, since, limit, params)

    async def fetch_order(self, id: str, symbol: str | None = None, params: Params = None) -> Order:
        """One order by exchange id."""
        pipe, p = self._pipeline, params or {}
        return await pipe.call("fetch_order", symbol, lambda: pipe.venue.fetch_order(id, symbol, p))

    async def fetch_my_trades(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params = None,
    ) -> list[Trade]:
        """The account's own fills."""
        pipe, p = self._pipeline, params or {}
        return await pipe.call(
            "fetch_my_trades", symbol, lambda: pipe.venue.fetch_my_trades(symbol, since, limit, p)
        )

    # ----------------------------------------------------------------- orders
    async def create_order(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: Decimal | float | str,
        price: Decimal | float | str | None = None,
        params: Params = None,
    ) -> Order:
        """Place an order exactly once (rounded, limit-checked, idempotent client id)."""
        self._require_running()
        order, placed = await order_entry.create_order(
            self._pipeline, await self.market(symbol), type, side, amount, price, params,
            limiter=self._limiter, record=self.record_call,
        )  # fmt: skip
        self.log_activity(
            "order_submitted", symbol=symbol, side=side, type=type,
            client_order_id=order.client_order_id, order_id=placed.id,
        )  # fmt: skip
        return placed

    async def cancel_order(
        self, id: str, symbol: str | None = None, params: Params = None
    ) -> Order:
        """Cancel one order; retried like a read, since a second cancel cannot double anything.

        If an attempt was lost (timeout) but went through, the retry finds no order to cancel:
        then the order is fetched and returned instead of an OrderNotFoundError.
        """
        return await order_entry.cancel_order(
            self._pipeline, id, symbol, params or {},
            fetch_order=lambda: self.fetch_order(id, symbol),
        )  # fmt: skip


_CALLABLE = frozenset({ServiceState.RUNNING, ServiceState.DEGRADED, ServiceState.STARTING})
_ORDER_METHODS: dict[OrderList, str] = {
    "all": "fetch_orders",
    "open": "fetch_open_orders",
    "closed": "fetch_closed_orders",
}


def _default_cache_path() -> Path:
    return Path(platformdirs.user_cache_dir("omegafarm")) / "ohlcv.sqlite"

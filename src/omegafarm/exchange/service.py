"""ExchangeService: one async interface over any ccxt exchange or the paper exchange.

Every call goes through :meth:`ExchangeService._call`: ccxt exceptions are translated (with the
exchange, method and symbol in the message, secrets redacted), transient read failures are
retried with bounded exponential backoff and jitter, and ccxt's dicts become our models.
Requests pass the :class:`RateLimiter` inside the client (see ``client.py``); orders go through
``orders.place_once`` so they are never placed twice; candles come from ``ohlcv_cache``. Given
the farm's Redis, markets and tickers are shared by every process (``shared_cache``).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import numpy.typing as npt
import platformdirs
from prometheus_client import CollectorRegistry

from omegafarm.core.errors import NotFoundError
from omegafarm.core.health import Check, Health, HealthState
from omegafarm.core.service import BaseService, ServiceState
from omegafarm.exchange import normalize as nz
from omegafarm.exchange.account import AccountReads, many
from omegafarm.exchange.client import build_ccxt_client, order_bucket, weight_bucket
from omegafarm.exchange.coalesce import SingleFlight
from omegafarm.exchange.config import ExchangeSettings
from omegafarm.exchange.errors import (
    BadSymbolError,
    ExchangeCallError,
    OrderNotFoundError,
    RateLimitedError,
    redact,
    translate,
    where,
)
from omegafarm.exchange.metrics import report_rate_limit
from omegafarm.exchange.models import Market, Order, OrderBook, Ticker, Trade
from omegafarm.exchange.ohlcv_cache import OhlcvCache, fetch_latest, fetch_range
from omegafarm.exchange.orders import (
    OrderPolicy,
    PreparedOrder,
    find_by_client_id,
    place_once,
    prepare_order,
    send_order,
)
from omegafarm.exchange.ratelimit import LocalRateLimiter, RateLimiter, local_limiter
from omegafarm.exchange.shared_cache import (
    Periodic,
    SharedMarketData,
    install,
    payload_of,
    shared_market_data,
)
from omegafarm.exchange.shared_limit import SharedRateLimiter
from omegafarm.exchange.vault import Credentials, Vault, VaultError
from omegafarm.store import RedisClient

__all__ = ["ExchangeService", "local_limiter"]  # local_limiter: re-exported for shared_limit

T = TypeVar("T")
F64 = npt.NDArray[np.float64]
SleepFn = Callable[[float], Awaitable[None]]
Params = dict[str, Any] | None
_COALESCED = frozenset(
    {"fetch_ticker", "fetch_tickers", "fetch_order_book", "fetch_balance", "fetch_positions"}
)
_SHARED = frozenset({"fetch_ticker", "fetch_tickers"})  # cached in Redis for ticker_ttl_s


class ExchangeService(AccountReads, BaseService[ExchangeSettings]):
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
        self._shared = SharedMarketData(None, self.settings.exchange_id)
        self._refresher: Periodic | None = None
        self._sleep = sleep
        self._rng = random.Random()  # noqa: S311  # jitter, not cryptography
        self._client: Any = None
        self._cache: OhlcvCache | None = None
        self._markets: dict[str, Market] = {}
        self._single_flight = SingleFlight()
        report_rate_limit(self, self._metrics.registry)

    @property
    def exchange_id(self) -> str:
        """The configured exchange ('paper' or a ccxt id)."""
        return self.settings.exchange_id

    # ----------------------------------------------------------------- lifecycle
    async def _on_initialize(self) -> None:
        s = self.settings
        if self._credentials is None and s.exchange_id != "paper":  # public data needs no vault
            key_id = s.key_id or s.exchange_id
            self._no_credentials = self._vault_problem
            if self._vault is not None:
                try:
                    self._credentials = self._vault.get(s.account, s.exchange_id, key_id)
                    self._no_credentials = ""
                except NotFoundError:
                    self._no_credentials = f"no key {s.account}/{s.exchange_id}/{key_id} in vault"
            if self._no_credentials:
                self.log_activity(
                    "credentials_missing", exchange=s.exchange_id, mode="public",
                    reason=self._no_credentials,
                )  # fmt: skip
        self._client = self._build_client()
        if self._limiter is None:
            local = self._local_limiter(float(getattr(self._client, "rateLimit", 0) or 1))
            self._limiter = local
            if self._redis is not None and s.exchange_id != "paper":
                self._limiter = SharedRateLimiter(self._redis, local, sleep=self._sleep)
            if hasattr(self._client, "omega_limiter"):
                self._client.omega_limiter = self._limiter
        self._cache = OhlcvCache(s.ohlcv_cache_path or _default_cache_path())
        self._shared = shared_market_data(s, self._redis)
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
        if self._refresher is not None:
            await self._refresher.stop()
            self._refresher = None
        if self._client is not None and hasattr(self._client, "close"):
            await self._client.close()
        self._client = None
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    def _build_client(self) -> Any:
        s = self.settings
        if s.exchange_id == "paper":
            from omegafarm.exchange.paper import PaperExchange

            return PaperExchange(s.paper)
        return build_ccxt_client(
            s.exchange_id,
            credentials=self._credentials,
            limiter=self._limiter,
            timeout_ms=s.timeout_ms,
            use_testnet=s.use_testnet,
            api_base_url=s.api_base_url,
            options=s.ccxt_options,
        )

    def _local_limiter(self, interval_ms: float) -> LocalRateLimiter:
        return local_limiter(self.settings, interval_ms, sleep=self._sleep)

    def get_exchange_client(self) -> Any:
        """The underlying ccxt (or paper) exchange object, for what the service does not wrap."""
        self._require_running()
        return self._client

    async def _check_health(self) -> Health:
        ok = self._client is not None
        reason = f"{self.exchange_id}: {len(self._markets)} markets loaded"
        limit_problem = str(getattr(self._limiter, "degraded_reason", "") or "")
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
        used = getattr(self._limiter, "used_fraction", None)
        if used is None:
            return {}
        buckets = [
            weight_bucket(self.exchange_id),
            order_bucket(self.exchange_id, self.settings.account),
        ]
        return {bucket: float(used(bucket)) for bucket in buckets}

    def _extra_metrics(self) -> dict[str, Any]:
        waited = getattr(self._limiter, "waited_s", None)
        return {
            "exchange": self.exchange_id,
            "rate_limit_waited_s": waited,
            "rate_limit_used": self.rate_limit_usage(),
            "market_data_cache": self._shared.stats() if self._shared.enabled else None,
        }

    # ----------------------------------------------------------------- plumbing
    def _translate(self, exc: BaseException, method: str, symbol: str | None) -> ExchangeCallError:
        secrets = self._credentials.revealed() if self._credentials is not None else ()
        if secrets and any(secret in str(exc) for secret in secrets):
            # The original stays chained as __cause__: scrub it too, tracebacks get printed.
            exc.args = (redact(str(exc), secrets),)
        retry_after_s = getattr(exc, "omega_retry_after_s", None)
        return translate(
            exc,
            exchange=self.exchange_id,
            method=method,
            symbol=symbol,
            retry_after_s=retry_after_s,
            secrets=secrets,
        )

    def _delay_s(self, attempt: int, error: ExchangeCallError) -> float:
        s = self.settings
        if isinstance(error, RateLimitedError) and error.retry_after_s is not None:
            return min(error.retry_after_s, s.max_retry_after_s)
        cap = min(s.backoff_max_s, s.backoff_base_s * 2.0 ** (attempt - 1))
        return cap / 2 + self._rng.uniform(0, cap / 2)

    async def _call(
        self, method: str, symbol: str | None, fn: Callable[[], Awaitable[T]], *, retry: bool = True
    ) -> T:
        """Run ``fn`` with translation, counting and (for reads) bounded retries."""
        if self.state is not ServiceState.STARTING:  # initialize() loads the markets
            self._require_running()
        attempts = self.settings.max_read_attempts if retry else 1
        async with self.track(method):
            for attempt in range(1, attempts + 1):
                try:
                    return await fn()
                except Exception as exc:
                    error = self._translate(exc, method, symbol)
                    decision = self.handle_error(
                        error, operation=method, symbol=symbol, attempt=attempt
                    )
                    if not decision.retry or attempt == attempts:
                        raise error from exc
                    await self._sleep(self._delay_s(attempt, error))
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _ctx(self, method: str) -> nz.Ctx:
        return nz.Ctx(self.exchange_id, method)

    # ----------------------------------------------------------------- markets and prices
    async def fetch_markets(self, *, reload: bool = True) -> dict[str, Market]:
        """Load (``reload``: again) and return every market by symbol.

        With shared market data, ``reload`` reads the farm's copy in Redis: the exchange is asked
        only when that copy is older than ``markets_refresh_s`` (by one process of the farm).
        """
        client = self._client
        loaded: list[bool] = []

        async def load() -> dict[str, Any]:
            await self._call("fetch_markets", None, lambda: client.load_markets(True))
            loaded.append(True)
            return payload_of(client)

        if self._shared.enabled and (reload or not client.markets):
            ttl_s = self.settings.markets_refresh_s or 365 * 86400.0
            payload = await self._shared.get_or_load(self._shared.key("markets"), load, ttl_s)
            raw = client.markets if loaded else install(client, payload)
        else:
            raw = await self._call("fetch_markets", None, lambda: client.load_markets(reload))
        mode = int(getattr(client, "precisionMode", nz.TICK_SIZE) or nz.TICK_SIZE)
        ctx = self._ctx("fetch_markets")
        self._markets = {
            str(sym): nz.market(m, ctx.at(str(sym)), precision_mode=mode) for sym, m in raw.items()
        }
        return dict(self._markets)

    async def market(self, symbol: str) -> Market:
        """One market (markets are loaded once when needed)."""
        if symbol not in self._markets:
            await self.fetch_markets(reload=not self._client.markets)
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

    async def _fetch(
        self, method: str, symbol: str | None, parse: Callable[[object, nz.Ctx], T], *args: Any
    ) -> T:
        """Call ccxt's ``method(*args)`` through ``_call`` and parse the result strictly.

        Identical market-data and account reads in flight at the same time share one request:
        twenty bots asking for the BTC/USDT ticker at once cost one exchange call. With shared
        market data, tickers are also reused farm-wide for ``ticker_ttl_s`` through Redis.
        """

        def call() -> Awaitable[Any]:
            return self._call(method, symbol, lambda: getattr(self._client, method)(*args))

        if method not in _COALESCED:
            return parse(await call(), self._ctx(method))
        load: Callable[[], Awaitable[Any]] = call
        if method in _SHARED and self._shared.enabled:
            key = self._shared.key(method.removeprefix("fetch_"), *args)
            ttl_s = self.settings.ticker_ttl_s
            load = lambda: self._shared.get_or_load(key, call, ttl_s)  # noqa: E731  # a thunk
        raw = await self._single_flight.run((method, repr(args)), load)
        return parse(raw, self._ctx(method))

    async def fetch_ticker(self, symbol: str, params: Params = None) -> Ticker:
        """The ticker of one market."""
        return await self._fetch("fetch_ticker", symbol, nz.ticker, symbol, params or {})

    async def fetch_tickers(
        self, symbols: list[str] | None = None, params: Params = None
    ) -> dict[str, Ticker]:
        """Tickers by symbol (all markets when ``symbols`` is None)."""
        return await self._fetch("fetch_tickers", None, nz.tickers, symbols, params or {})

    async def fetch_order_book(
        self, symbol: str, limit: int | None = None, params: Params = None
    ) -> OrderBook:
        """Bids and asks of one market."""
        args = (symbol, limit, params or {})
        return await self._fetch("fetch_order_book", symbol, nz.order_book, *args)

    async def fetch_trades(
        self, symbol: str, since: int | None = None, limit: int | None = None, params: Params = None
    ) -> list[Trade]:
        """Recent public trades of one market."""
        args = (symbol, since, limit, params or {})
        return await self._fetch("fetch_trades", symbol, many(nz.trade), *args)

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
        tf_ms = int(self._client.parse_timeframe(timeframe) * 1000)
        variant = json.dumps(params or {}, sort_keys=True, default=str)
        key = (self.exchange_id, symbol, timeframe, variant)
        ctx = self._ctx("fetch_ohlcv")

        async def page(page_since: int | None, page_limit: int) -> F64:
            raw = await self._call(
                "fetch_ohlcv",
                symbol,
                lambda: self._client.fetch_ohlcv(
                    symbol, timeframe, page_since, page_limit or None, params or {}
                ),
            )
            return nz.ohlcv(raw, ctx)

        now_ms = int(self._client.milliseconds())  # the paper exchange has its own clock
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

    # ----------------------------------------------------------------- account
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
        market = await self.market(symbol)
        ctx = self._ctx("create_order")
        amount_d = nz.to_decimal(amount, ctx.at("amount"))
        price_d = nz.to_decimal(price, ctx.at("price"))
        if amount_d is None:
            raise self._translate(ValueError("amount is required"), "create_order", symbol)
        order = prepare_order(self.exchange_id, market, type, side, amount_d, price_d, params)
        async with self.track("create_order"):
            placed = await place_once(
                order,
                create=self._send_order,
                lookup=self._find_by_client_id,
                translate=lambda exc, method, _attempt: self._translate(exc, method, symbol),
                backoff=lambda attempt, error: self._sleep(self._delay_s(attempt, error)),
                now_ms=lambda: int(time.time() * 1000),
                policy=OrderPolicy(
                    self.settings.max_order_attempts, self.settings.order_lookup_attempts
                ),
            )
        self.log_activity(
            "order_submitted",
            symbol=symbol,
            side=side,
            type=type,
            client_order_id=order.client_order_id,
            order_id=placed.id,
        )
        return placed

    async def _send_order(self, order: PreparedOrder) -> Order:
        if self._limiter is not None and self.exchange_id != "paper":
            bucket = order_bucket(self.exchange_id, self.settings.account)
            await self._limiter.acquire(bucket, 1.0)
        return await send_order(self._client, order, self.exchange_id)

    async def _find_by_client_id(self, order: PreparedOrder, since_ms: int) -> Order | None:
        return await find_by_client_id(self._client, order, since_ms, self.exchange_id)

    async def cancel_order(
        self, id: str, symbol: str | None = None, params: Params = None
    ) -> Order:
        """Cancel one order; retried like a read, since a second cancel cannot double anything.

        If an attempt was lost (timeout) but went through, the retry finds no order to cancel:
        then the order is fetched and returned instead of an OrderNotFoundError.
        """
        attempts = 0

        async def cancel() -> Any:
            nonlocal attempts
            attempts += 1
            return await self._client.cancel_order(id, symbol, params or {})

        try:
            raw = await self._call("cancel_order", symbol, cancel)
        except OrderNotFoundError:
            if attempts < 2:
                raise
            return await self.fetch_order(id, symbol)
        return nz.order(raw, self._ctx("cancel_order"))


def _default_cache_path() -> Path:
    return Path(platformdirs.user_cache_dir("omegafarm")) / "ohlcv.sqlite"

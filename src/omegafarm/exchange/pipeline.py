"""The call pipeline: what happens to every call ExchangeService makes to its venue.

One object, one order of steps, so the service's methods are one line each::

    load_markets  ─► shared cache (markets, farm-wide through Redis, when the venue shares)
    read(method)  ─► shared cache (tickers, farm-wide through Redis, when the venue shares)
                  ─► single flight (identical concurrent reads share one call)
                  ─► call(method) ─► the venue ─► translate ─► retry with backoff (reads)
                                    (counted and timed once per call, attempts included)

The per-call cost is kept to a dict lookup and two clock reads on the success path: a ticker
read is one coroutine of ours between the service and the venue (coalescing and the call run
inline), its metric series are looked up once per method, and the coalescing future is made
only when a second caller joins.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from time import perf_counter
from typing import Any, Protocol, TypeVar

from omegafarm.core.metrics import OperationStats
from omegafarm.core.service import ErrorDecision
from omegafarm.exchange.coalesce import SingleFlight
from omegafarm.exchange.config import ExchangeSettings
from omegafarm.exchange.errors import ExchangeCallError, RateLimitedError
from omegafarm.exchange.models import Market, Ticker
from omegafarm.exchange.shared_cache import SharedMarketData
from omegafarm.exchange.venue import MarketsSnapshot, Venue

T = TypeVar("T")
SleepFn = Callable[[float], Awaitable[None]]

COALESCED = frozenset(
    {"fetch_ticker", "fetch_tickers", "fetch_order_book", "fetch_balance", "fetch_positions"}
)

__all__ = ["COALESCED", "CallObserver", "CallPipeline"]


class CallObserver(Protocol):
    """What the pipeline reports to its service: state checks, errors, timings."""

    accepts_calls: bool  # while the service starts or runs; check_callable() says why not

    def check_callable(self) -> None:
        """Raise unless calls are allowed now (the service is starting or running)."""
        ...

    def handle_error(self, exc: BaseException, *, operation: str, **context: Any) -> ErrorDecision:
        """Count and log one failed attempt; say whether to retry."""
        ...

    def record_call(self, operation: str, elapsed_s: float) -> None:
        """Count and time one call (all its attempts)."""
        ...

    def call_series(self, operation: str) -> tuple[OperationStats, dict[str, int]]:
        """Where :meth:`record_call` counts and times ``operation``: its metric series and the
        service's calls per operation (for a hot path that records inline)."""
        ...


class CallPipeline:
    """Translation, retries, counting, coalescing and the shared cache of one venue."""

    def __init__(
        self,
        settings: ExchangeSettings,
        venue: Venue,
        observer: CallObserver,
        *,
        shared: SharedMarketData,
        secrets: tuple[str, ...] = (),
        sleep: SleepFn,
    ) -> None:
        self.settings = settings
        self.venue = venue
        self.shared = shared
        self._sharing = shared.enabled  # fixed for the pipeline's life
        self._observer = observer
        self._secrets = secrets
        self._sleep = sleep
        self._rng = random.Random()  # noqa: S311  # jitter, not cryptography
        self._single_flight = SingleFlight()
        self._series: dict[str, tuple[OperationStats, dict[str, int]]] = {}

    # ----------------------------------------------------------------- the steps
    def translate(self, exc: BaseException, method: str, symbol: str | None) -> ExchangeCallError:
        """Our error for what the venue raised (secrets redacted; bugs re-raised)."""
        return self.venue.translate(exc, method, symbol, self._secrets)

    def delay_s(self, attempt: int, error: ExchangeCallError) -> float:
        """How long to wait before attempt ``attempt + 1``: Retry-After, else jittered backoff."""
        s = self.settings
        if isinstance(error, RateLimitedError) and error.retry_after_s is not None:
            return min(error.retry_after_s, s.max_retry_after_s)
        cap = min(s.backoff_max_s, s.backoff_base_s * 2.0 ** (attempt - 1))
        return cap / 2 + self._rng.uniform(0, cap / 2)

    async def backoff(self, attempt: int, error: ExchangeCallError) -> None:
        """Sleep :meth:`delay_s`."""
        await self._sleep(self.delay_s(attempt, error))

    async def call(
        self,
        method: str,
        symbol: str | None,
        fn: Callable[[], Awaitable[T]],
        *,
        retry: bool = True,
    ) -> T:
        """Run ``fn`` with translation, counting and (for reads) bounded retries."""
        self._observer.check_callable()
        start = perf_counter()
        try:
            try:
                return await fn()
            except Exception as exc:
                attempts = self.settings.max_read_attempts if retry else 1
                return await self._retry(method, symbol, fn, exc, attempts)
        finally:
            self._observer.record_call(method, perf_counter() - start)

    async def _retry(
        self,
        method: str,
        symbol: str | None,
        fn: Callable[[], Awaitable[T]],
        first: Exception,
        attempts: int,
    ) -> T:
        exc: Exception = first
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                try:
                    return await fn()
                except Exception as again:
                    exc = again
            error = self.translate(exc, method, symbol)
            decision = self._observer.handle_error(
                error, operation=method, symbol=symbol, attempt=attempt
            )
            if not decision.retry or attempt == attempts:
                raise error from exc
            await self.backoff(attempt, error)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    async def load_markets(self, reload: bool) -> dict[str, Market]:
        """The venue's markets; with shared market data, the farm's copy in Redis (loaded by
        one process when older than ``markets_refresh_s``; the others install it)."""
        venue = self.venue
        if not (self._sharing and (reload or not venue.has_markets())):
            return await self.call("fetch_markets", None, lambda: venue.load_markets(reload))
        loaded: list[dict[str, Market]] = []

        async def load() -> MarketsSnapshot:
            loaded.append(await self.call("fetch_markets", None, lambda: venue.load_markets(True)))
            return venue.markets_snapshot()

        ttl_s = self.settings.markets_refresh_s or 365 * 86400.0
        snapshot = await self.shared.get_or_load(self.shared.key("markets"), load, ttl_s)
        return loaded[0] if loaded else venue.install_markets(snapshot)

    async def read(
        self,
        method: str,
        symbol: str | None,
        args: tuple[Any, ...],
        fn: Callable[..., Awaitable[T]],
    ) -> T:
        """``fn(*args)`` through :meth:`call`, coalesced (and for tickers shared) by ``args``.

        On every price poll, so the single flight and :meth:`call` run inline in this one
        coroutine: the same steps, in the same order, as ``single_flight.run(key, call)``.
        """
        if method not in COALESCED:
            return await self.call(method, symbol, lambda: fn(*args))
        # Which reads are identical: (method, symbol) for a symbol without parameters (a price
        # poll: repr() cost as much as the rest of this), else by args' repr (three parts, so
        # never equal to a key of two).
        head = args[0] if len(args) == 2 and not args[1] else None
        key = (method, head) if type(head) is str else (method, "args", repr(args))
        flights = self._single_flight
        inflight = flights.inflight
        if key in inflight or (self._sharing and method in _SHARED):
            return await self._read_slow(method, symbol, args, key, lambda: fn(*args))
        inflight[key] = None  # this call runs it (SingleFlight's protocol)
        observer = self._observer
        try:
            if not observer.accepts_calls:
                observer.check_callable()  # raises, naming the state
            start = perf_counter()
            try:
                try:
                    result = await fn(*args)
                except Exception as exc:
                    attempts = self.settings.max_read_attempts
                    result = await self._retry(method, symbol, lambda: fn(*args), exc, attempts)
            finally:  # observer.record_call(method, elapsed), inline
                elapsed_s = perf_counter() - start
                series = self._series.get(method)
                if series is None:
                    series = self._series[method] = observer.call_series(method)
                series[0].record(elapsed_s)
                counts = series[1]
                counts[method] = counts.get(method, 0) + 1
        except BaseException as exc:
            flights.fail(key, exc)
            raise
        joined = inflight.pop(key)  # flights.succeed(key, result), inline
        if joined is not None:
            joined.set_result(result)
        return result

    async def _read_slow(
        self,
        method: str,
        symbol: str | None,
        args: tuple[object, ...],
        key: tuple[object, ...],
        fn: Callable[[], Awaitable[T]],
    ) -> T:
        def call() -> Awaitable[T]:
            return self.call(method, symbol, fn)

        load: Callable[[], Awaitable[T]] = call
        if self._sharing and method in _SHARED:
            load = self._shared_load(method, args, call)
        result: T = await self._single_flight.run(key, load)
        return result

    def _shared_load(
        self, method: str, args: tuple[object, ...], call: Callable[[], Awaitable[T]]
    ) -> Callable[[], Awaitable[T]]:
        """``call`` through the farm's Redis cache (plain data in Redis, models out)."""
        encode, decode = _SHARED[method]
        key = self.shared.key(method.removeprefix("fetch_"), *args)
        ttl_s = self.settings.ticker_ttl_s

        async def plain() -> object:
            return encode(await call())

        async def load() -> T:
            value: T = decode(await self.shared.get_or_load(key, plain, ttl_s))
            return value

        return load


# ----------------------------------------------------------------- tickers as plain data
def _ticker_data(ticker: Any) -> object:
    return asdict(ticker)


def _ticker_of(data: Any) -> Ticker:
    return Ticker(**data)


def _tickers_data(tickers: Any) -> object:
    return {symbol: asdict(t) for symbol, t in tickers.items()}


def _tickers_of(data: Any) -> dict[str, Ticker]:
    return {symbol: Ticker(**t) for symbol, t in data.items()}


# method -> (model to plain data, plain data to model): cached in Redis for ticker_ttl_s
_SHARED: dict[str, tuple[Callable[[Any], object], Callable[[Any], Any]]] = {
    "fetch_ticker": (_ticker_data, _ticker_of),
    "fetch_tickers": (_tickers_data, _tickers_of),
}

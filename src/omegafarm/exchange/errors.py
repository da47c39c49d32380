"""Exchange errors and the one place where ccxt exceptions become ours.

Every failure of an exchange call surfaces as a subclass of :class:`ExchangeCallError` whose
message names the exchange, the method and the symbol. ``TransientError`` (from core) marks what
the service may retry::

    omegafarm.core.errors.ExchangeError
    └── ExchangeCallError                    exchange, method, symbol attached
        ├── ExchangeNetworkError      (T)    connection reset, DNS, nonce, checksum
        │   ├── ExchangeTimeoutError  (T)    no answer within the timeout
        │   ├── ExchangeUnavailableError (T) 5xx, maintenance, cancel pending
        │   ├── RateLimitedError      (T)    429/418; carries retry_after_s
        │   └── DDoSProtectionError   (T)    Cloudflare & co.; carries retry_after_s
        ├── AuthenticationError              bad key, signature, suspended account
        │   └── PermissionDeniedError        key lacks the right, restricted location
        ├── InsufficientFundsError
        ├── InvalidOrderError                rejected order, local precision/limit checks
        │   ├── OrderNotFoundError
        │   └── DuplicateOrderIdError        the client order id was used already
        ├── BadSymbolError                   unknown market
        ├── BadRequestError                  missing or malformed arguments
        ├── NotSupportedError                the exchange (or ccxt) lacks the method
        ├── OperationRejectedError           the exchange refused for another reason
        ├── ExchangeResponseError            the answer could not be understood
        └── OrderStateUnknownError           an order may exist: it was not retried

(T) = transient. :func:`translate` maps every ccxt class by walking the exception's MRO, so
the most specific ccxt class always wins (``OrderNotFound`` before ``InvalidOrder``,
``RateLimitExceeded`` before ``NetworkError``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable

import ccxt

from omegafarm.core.errors import ExchangeError, TransientError


class ExchangeCallError(ExchangeError):
    """An exchange call failed; ``exchange``, ``method`` and ``symbol`` say which."""

    def __init__(
        self,
        message: str,
        *,
        exchange: str = "",
        method: str = "",
        symbol: str | None = None,
    ) -> None:
        super().__init__(message)
        self.exchange = exchange
        self.method = method
        self.symbol = symbol


class ExchangeNetworkError(ExchangeCallError, TransientError):
    """The request or its answer was lost on the way; trying again may work."""


class ExchangeTimeoutError(ExchangeNetworkError):
    """The exchange did not answer within the timeout (the request may have been executed)."""


class ExchangeUnavailableError(ExchangeNetworkError):
    """The exchange answered that it cannot serve now (5xx, maintenance)."""


class RateLimitedError(ExchangeNetworkError):
    """The exchange refused because of request rate; wait ``retry_after_s`` when known."""

    def __init__(
        self,
        message: str,
        *,
        exchange: str = "",
        method: str = "",
        symbol: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, exchange=exchange, method=method, symbol=symbol)
        self.retry_after_s = retry_after_s


class DDoSProtectionError(RateLimitedError):
    """An anti-DDoS layer in front of the exchange refused the request."""


class AuthenticationError(ExchangeCallError):
    """The credentials were refused (wrong key, bad signature, suspended account)."""


class PermissionDeniedError(AuthenticationError):
    """The credentials are valid but lack the permission for this call."""


class InsufficientFundsError(ExchangeCallError):
    """The account does not hold enough to do this."""


class InvalidOrderError(ExchangeCallError):
    """The order was refused, by the exchange or by our precision and limit checks."""


class OrderNotFoundError(InvalidOrderError):
    """No order with that id exists (any more)."""


class DuplicateOrderIdError(InvalidOrderError):
    """The client order id was already used."""


class BadSymbolError(ExchangeCallError):
    """The exchange has no market with that symbol."""


class BadRequestError(ExchangeCallError):
    """Arguments are missing or malformed."""


class NotSupportedError(ExchangeCallError):
    """The exchange or ccxt does not offer this method or option."""


class OperationRejectedError(ExchangeCallError):
    """The exchange refused the operation for a reason not covered above."""


class ExchangeResponseError(ExchangeCallError):
    """The exchange answered something we could not understand (malformed or missing field)."""


class OrderStateUnknownError(ExchangeCallError):
    """An order request may have been executed; the service did not retry it to avoid a double."""


_CCXT_TO_OURS: dict[type[BaseException], type[ExchangeCallError]] = {
    ccxt.RequestTimeout: ExchangeTimeoutError,
    ccxt.RateLimitExceeded: RateLimitedError,
    ccxt.DDoSProtection: DDoSProtectionError,
    ccxt.OnMaintenance: ExchangeUnavailableError,
    ccxt.ExchangeNotAvailable: ExchangeUnavailableError,
    ccxt.ChecksumError: ExchangeNetworkError,
    ccxt.InvalidNonce: ExchangeNetworkError,
    ccxt.NetworkError: ExchangeNetworkError,
    ccxt.NullResponse: ExchangeResponseError,
    ccxt.BadResponse: ExchangeResponseError,
    ccxt.CancelPending: ExchangeUnavailableError,
    ccxt.OperationFailed: ExchangeNetworkError,
    ccxt.AccountNotEnabled: PermissionDeniedError,
    ccxt.PermissionDenied: PermissionDeniedError,
    ccxt.AccountSuspended: AuthenticationError,
    ccxt.AuthenticationError: AuthenticationError,
    ccxt.ArgumentsRequired: BadRequestError,
    ccxt.BadSymbol: BadSymbolError,
    ccxt.BadRequest: BadRequestError,
    ccxt.RestrictedLocation: PermissionDeniedError,
    ccxt.MarginModeAlreadySet: OperationRejectedError,
    ccxt.NoChange: OperationRejectedError,
    ccxt.MarketClosed: OperationRejectedError,
    ccxt.ManualInteractionNeeded: OperationRejectedError,
    ccxt.OperationRejected: OperationRejectedError,
    ccxt.InsufficientFunds: InsufficientFundsError,
    ccxt.AddressPending: BadRequestError,
    ccxt.InvalidAddress: BadRequestError,
    ccxt.OrderNotFound: OrderNotFoundError,
    ccxt.OrderNotCached: OrderNotFoundError,
    ccxt.DuplicateOrderId: DuplicateOrderIdError,
    ccxt.OrderImmediatelyFillable: InvalidOrderError,
    ccxt.OrderNotFillable: InvalidOrderError,
    ccxt.ContractUnavailable: InvalidOrderError,
    ccxt.InvalidOrder: InvalidOrderError,
    ccxt.NotSupported: NotSupportedError,
    ccxt.InvalidProxySettings: BadRequestError,
    ccxt.ExchangeClosedByUser: OperationRejectedError,
    ccxt.ExchangeError: OperationRejectedError,
    ccxt.UnsubscribeError: OperationRejectedError,
    ccxt.BaseError: OperationRejectedError,
    # Not ccxt, but seen from inside ccxt calls.
    asyncio.TimeoutError: ExchangeTimeoutError,
    TimeoutError: ExchangeTimeoutError,
    ConnectionError: ExchangeNetworkError,
    json.JSONDecodeError: ExchangeResponseError,
}

_KIND: dict[type[ExchangeCallError], str] = {
    ExchangeTimeoutError: "timed out",
    RateLimitedError: "rate limited",
    DDoSProtectionError: "blocked by DDoS protection",
    ExchangeUnavailableError: "exchange unavailable",
    ExchangeNetworkError: "network error",
    ExchangeResponseError: "unexpected response",
    PermissionDeniedError: "permission denied",
    AuthenticationError: "authentication failed",
    BadSymbolError: "unknown symbol",
    BadRequestError: "bad request",
    InsufficientFundsError: "insufficient funds",
    OrderNotFoundError: "order not found",
    DuplicateOrderIdError: "duplicate client order id",
    InvalidOrderError: "invalid order",
    NotSupportedError: "not supported",
    OperationRejectedError: "rejected by the exchange",
}


def where(exchange: str, method: str, symbol: str | None) -> str:
    """The ``exchange.method(symbol)`` prefix every message starts with."""
    return f"{exchange}.{method}({symbol or ''})"


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def translate(
    exc: BaseException,
    *,
    exchange: str,
    method: str,
    symbol: str | None = None,
    retry_after_s: float | None = None,
    secrets: Iterable[str] = (),
) -> ExchangeCallError:
    """Our error for ``exc`` (any ccxt exception or one raised inside a ccxt call).

    Unknown exceptions (a ``KeyError`` from ccxt parsing a malformed answer, for instance)
    become :class:`ExchangeResponseError`; the caller raises the result ``from exc``.
    """
    if isinstance(exc, ExchangeCallError):
        return exc
    ours: type[ExchangeCallError] = ExchangeResponseError
    for klass in type(exc).__mro__:
        found = _CCXT_TO_OURS.get(klass)
        if found is not None:
            ours = found
            break
    detail = redact(str(exc) or type(exc).__name__, secrets)
    if len(detail) > 500:
        detail = detail[:500] + "…"
    kind = _KIND.get(ours, "failed")
    if ours is ExchangeResponseError and not isinstance(exc, ccxt.BaseError):
        detail = f"{type(exc).__name__}: {detail}"
    if issubclass(ours, RateLimitedError):
        wait = f", retry after {retry_after_s:g} s" if retry_after_s is not None else ""
        message = f"{where(exchange, method, symbol)}: {kind}{wait}: {detail}"
        return ours(
            message, exchange=exchange, method=method, symbol=symbol, retry_after_s=retry_after_s
        )
    message = f"{where(exchange, method, symbol)}: {kind}: {detail}"
    return ours(message, exchange=exchange, method=method, symbol=symbol)


def is_order_maybe_executed(error: ExchangeCallError) -> bool:
    """Whether an order request that failed this way may still have reached the book.

    A timeout, a lost connection or a 5xx may hide an executed request; a rate-limit refusal
    or any permanent error means the exchange did not take it.
    """
    return isinstance(error, ExchangeNetworkError) and not isinstance(error, RateLimitedError)

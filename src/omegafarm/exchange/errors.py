"""Exchange errors: the tree every venue adapter raises into.

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
        ├── ExchangeAuthenticationError      bad key, signature, suspended account
        │   └── ExchangePermissionDeniedError  key lacks the right, restricted location
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

(T) = transient. The two authentication errors are also the core ``AuthenticationError`` and
``PermissionDeniedError`` (this module exports those names), so one ``except`` catches a
refused credential wherever it came from. The table from ccxt's classes to these lives with the
ccxt adapter (:mod:`omegafarm.exchange.ccxt_errors`); this module imports no exchange library.
"""

from __future__ import annotations

from collections.abc import Iterable

from omegafarm.core.errors import (
    AuthenticationError,
    ExchangeError,
    PermissionDeniedError,
    TransientError,
)

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "BadSymbolError",
    "DDoSProtectionError",
    "DuplicateOrderIdError",
    "ExchangeAuthenticationError",
    "ExchangeCallError",
    "ExchangeNetworkError",
    "ExchangePermissionDeniedError",
    "ExchangeResponseError",
    "ExchangeTimeoutError",
    "ExchangeUnavailableError",
    "InsufficientFundsError",
    "InvalidOrderError",
    "NotSupportedError",
    "OperationRejectedError",
    "OrderNotFoundError",
    "OrderStateUnknownError",
    "PermissionDeniedError",
    "RateLimitedError",
    "is_order_maybe_executed",
    "redact",
    "where",
]


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


class ExchangeAuthenticationError(ExchangeCallError, AuthenticationError):
    """The exchange refused our credentials (wrong key, bad signature, suspended account)."""


class ExchangePermissionDeniedError(ExchangeAuthenticationError, PermissionDeniedError):
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


def where(exchange: str, method: str, symbol: str | None) -> str:
    """The ``exchange.method(symbol)`` prefix every message starts with."""
    return f"{exchange}.{method}({symbol or ''})"


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def is_order_maybe_executed(error: ExchangeCallError) -> bool:
    """Whether an order request that failed this way may still have reached the book.

    A timeout, a lost connection or a 5xx may hide an executed request; a rate-limit refusal
    or any permanent error means the exchange did not take it.
    """
    return isinstance(error, ExchangeNetworkError) and not isinstance(error, RateLimitedError)

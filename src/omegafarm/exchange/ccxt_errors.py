"""The one place where ccxt exceptions become ours (part of the ccxt venue adapter).

:func:`translate` maps every ccxt class by walking the exception's MRO, so the most specific
ccxt class always wins (``OrderNotFound`` before ``InvalidOrder``, ``RateLimitExceeded`` before
``NetworkError``). The paper venue speaks ccxt's exception classes too, so it shares the table.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable

import ccxt

from omegafarm.exchange.errors import (
    BadRequestError,
    BadSymbolError,
    DDoSProtectionError,
    DuplicateOrderIdError,
    ExchangeAuthenticationError,
    ExchangeCallError,
    ExchangeNetworkError,
    ExchangePermissionDeniedError,
    ExchangeResponseError,
    ExchangeTimeoutError,
    ExchangeUnavailableError,
    InsufficientFundsError,
    InvalidOrderError,
    NotSupportedError,
    OperationRejectedError,
    OrderNotFoundError,
    RateLimitedError,
    redact,
    where,
)

__all__ = ["translate"]

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
    ccxt.AccountNotEnabled: ExchangePermissionDeniedError,
    ccxt.PermissionDenied: ExchangePermissionDeniedError,
    ccxt.AccountSuspended: ExchangeAuthenticationError,
    ccxt.AuthenticationError: ExchangeAuthenticationError,
    ccxt.ArgumentsRequired: BadRequestError,
    ccxt.BadSymbol: BadSymbolError,
    ccxt.BadRequest: BadRequestError,
    ccxt.RestrictedLocation: ExchangePermissionDeniedError,
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
    ExchangePermissionDeniedError: "permission denied",
    ExchangeAuthenticationError: "authentication failed",
    BadSymbolError: "unknown symbol",
    BadRequestError: "bad request",
    InsufficientFundsError: "insufficient funds",
    OrderNotFoundError: "order not found",
    DuplicateOrderIdError: "duplicate client order id",
    InvalidOrderError: "invalid order",
    NotSupportedError: "not supported",
    OperationRejectedError: "rejected by the exchange",
}


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

    The caller raises the result ``from exc``. A foreign exception (a ``KeyError``) becomes an
    :class:`ExchangeResponseError` only when ccxt's own code raised it (ccxt parsing a malformed
    answer); raised anywhere else it is a bug of ours, not an answer we could not understand,
    and is re-raised unchanged.
    """
    if isinstance(exc, ExchangeCallError):
        return exc
    if not _is_mapped(exc) and not _raised_in_ccxt(exc):
        raise exc
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


def _is_mapped(exc: BaseException) -> bool:
    return any(klass in _CCXT_TO_OURS for klass in type(exc).__mro__)


def _raised_in_ccxt(exc: BaseException) -> bool:
    """Whether the innermost frame of ``exc``'s traceback is ccxt's code."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    module = str(tb.tb_frame.f_globals.get("__name__", ""))
    return module == "ccxt" or module.startswith("ccxt.")

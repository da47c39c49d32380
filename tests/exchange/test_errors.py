"""Every ccxt exception maps to the right error of ours, with a message that says where."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ccxt
import pytest
from ccxt.base.errors import error_hierarchy

from omegafarm.core.errors import ExchangeError, TransientError, is_transient
from omegafarm.exchange import errors as e


def _walk(tree: dict[str, Any]) -> Iterator[str]:
    for name, children in tree.items():
        yield name
        yield from _walk(children)


ALL_CCXT = sorted(_walk(error_hierarchy))

EXPECTED: dict[str, type[e.ExchangeCallError]] = {
    "RequestTimeout": e.ExchangeTimeoutError,
    "RateLimitExceeded": e.RateLimitedError,
    "DDoSProtection": e.DDoSProtectionError,
    "ExchangeNotAvailable": e.ExchangeUnavailableError,
    "OnMaintenance": e.ExchangeUnavailableError,
    "NetworkError": e.ExchangeNetworkError,
    "InvalidNonce": e.ExchangeNetworkError,
    "AuthenticationError": e.AuthenticationError,
    "PermissionDenied": e.PermissionDeniedError,
    "AccountNotEnabled": e.PermissionDeniedError,
    "InsufficientFunds": e.InsufficientFundsError,
    "InvalidOrder": e.InvalidOrderError,
    "OrderNotFound": e.OrderNotFoundError,
    "DuplicateOrderId": e.DuplicateOrderIdError,
    "BadSymbol": e.BadSymbolError,
    "BadRequest": e.BadRequestError,
    "NotSupported": e.NotSupportedError,
    "BadResponse": e.ExchangeResponseError,
    "NullResponse": e.ExchangeResponseError,
    "ExchangeError": e.OperationRejectedError,
}


def _is_transient_in_ccxt(name: str) -> bool:
    klass = getattr(ccxt, name)
    return issubclass(klass, ccxt.NetworkError) or name in ("OperationFailed", "CancelPending")


@pytest.mark.parametrize("name", ALL_CCXT)
def test_every_ccxt_error_is_mapped_explicitly(name: str) -> None:
    klass = getattr(ccxt, name)
    assert klass in e._CCXT_TO_OURS, f"{name} has no explicit mapping"
    ours = e.translate(klass("boom"), exchange="binance", method="fetch_ticker", symbol="BTC/USDT")
    assert isinstance(ours, ExchangeError)
    assert is_transient(ours) == _is_transient_in_ccxt(name), name


@pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED.items()))
def test_ccxt_error_translates_to_our_class(name: str, expected: type[e.ExchangeCallError]) -> None:
    ours = e.translate(
        getattr(ccxt, name)("binance {'code': -1}"),
        exchange="binance",
        method="create_order",
        symbol="ETH/USDT",
    )
    assert type(ours) is expected


def test_most_specific_ccxt_class_wins_over_its_parent() -> None:
    class Custom(ccxt.OrderNotFound):
        pass

    ours = e.translate(Custom("gone"), exchange="kraken", method="cancel_order", symbol="X/Y")
    assert type(ours) is e.OrderNotFoundError


def test_message_names_exchange_method_and_symbol() -> None:
    ours = e.translate(
        ccxt.InsufficientFunds("binance Account has insufficient balance"),
        exchange="binance",
        method="create_order",
        symbol="BTC/USDT",
    )
    assert str(ours).startswith("binance.create_order(BTC/USDT): insufficient funds: ")
    assert (ours.exchange, ours.method, ours.symbol) == ("binance", "create_order", "BTC/USDT")


def test_rate_limit_carries_retry_after() -> None:
    exc = ccxt.RateLimitExceeded("429")
    ours = e.translate(exc, exchange="binance", method="fetch_ohlcv", retry_after_s=2.5)
    assert isinstance(ours, e.RateLimitedError)
    assert ours.retry_after_s == 2.5
    assert "retry after 2.5 s" in str(ours)


def test_foreign_exceptions_become_response_or_timeout_errors() -> None:
    parsing = e.translate(KeyError("price"), exchange="kraken", method="fetch_order")
    assert isinstance(parsing, e.ExchangeResponseError)
    assert "KeyError" in str(parsing)
    assert isinstance(e.translate(TimeoutError(), exchange="x", method="y"), e.ExchangeTimeoutError)


def test_secrets_are_redacted_from_messages() -> None:
    ours = e.translate(
        ccxt.AuthenticationError("invalid key ABCDEF123 for request"),
        exchange="binance",
        method="fetch_balance",
        secrets=["ABCDEF123"],
    )
    assert "ABCDEF123" not in str(ours)
    assert "***" in str(ours)


def test_transient_errors_use_the_core_mixin() -> None:
    for klass in (
        e.ExchangeNetworkError,
        e.ExchangeTimeoutError,
        e.ExchangeUnavailableError,
        e.RateLimitedError,
        e.DDoSProtectionError,
    ):
        assert issubclass(klass, TransientError)
    for klass in (e.AuthenticationError, e.InvalidOrderError, e.ExchangeResponseError):
        assert not issubclass(klass, TransientError)


def test_only_lost_requests_may_hide_an_executed_order() -> None:
    timeout = e.translate(ccxt.RequestTimeout("t"), exchange="b", method="create_order")
    limited = e.translate(ccxt.RateLimitExceeded("r"), exchange="b", method="create_order")
    rejected = e.translate(ccxt.InvalidOrder("i"), exchange="b", method="create_order")
    assert e.is_order_maybe_executed(timeout)
    assert not e.is_order_maybe_executed(limited)
    assert not e.is_order_maybe_executed(rejected)

"""Every ccxt exception maps to the right error of ours, with a message that says where."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ccxt
import pytest
from ccxt.base.errors import error_hierarchy

from omegafarm import security
from omegafarm.core.errors import ExchangeError, TransientError, is_transient
from omegafarm.exchange import ccxt_errors as ce
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
    "AuthenticationError": e.ExchangeAuthenticationError,
    "PermissionDenied": e.ExchangePermissionDeniedError,
    "AccountNotEnabled": e.ExchangePermissionDeniedError,
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
    assert klass in ce._CCXT_TO_OURS, f"{name} has no explicit mapping"
    ours = ce.translate(klass("boom"), exchange="binance", method="fetch_ticker", symbol="BTC/USDT")
    assert isinstance(ours, ExchangeError)
    assert is_transient(ours) == _is_transient_in_ccxt(name), name


@pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED.items()))
def test_ccxt_error_translates_to_our_class(name: str, expected: type[e.ExchangeCallError]) -> None:
    ours = ce.translate(
        getattr(ccxt, name)("binance {'code': -1}"),
        exchange="binance",
        method="create_order",
        symbol="ETH/USDT",
    )
    assert type(ours) is expected


def test_most_specific_ccxt_class_wins_over_its_parent() -> None:
    class Custom(ccxt.OrderNotFound):
        pass

    ours = ce.translate(Custom("gone"), exchange="kraken", method="cancel_order", symbol="X/Y")
    assert type(ours) is e.OrderNotFoundError


def test_message_names_exchange_method_and_symbol() -> None:
    ours = ce.translate(
        ccxt.InsufficientFunds("binance Account has insufficient balance"),
        exchange="binance",
        method="create_order",
        symbol="BTC/USDT",
    )
    assert str(ours).startswith("binance.create_order(BTC/USDT): insufficient funds: ")
    assert (ours.exchange, ours.method, ours.symbol) == ("binance", "create_order", "BTC/USDT")


def test_rate_limit_carries_retry_after() -> None:
    exc = ccxt.RateLimitExceeded("429")
    ours = ce.translate(exc, exchange="binance", method="fetch_ohlcv", retry_after_s=2.5)
    assert isinstance(ours, e.RateLimitedError)
    assert ours.retry_after_s == 2.5
    assert "retry after 2.5 s" in str(ours)


def _raised_by_ccxt() -> Exception:
    """A foreign exception raised inside ccxt's own code (parsing a malformed answer)."""
    try:
        ccxt.binance().parse_ticker(None)
    except Exception as exc:  # whatever ccxt trips over: TypeError, KeyError...
        return exc
    raise AssertionError("ccxt parsed None as a ticker")


def test_foreign_exceptions_raised_inside_ccxt_become_response_or_timeout_errors() -> None:
    inside = _raised_by_ccxt()
    parsing = ce.translate(inside, exchange="kraken", method="fetch_order")
    assert isinstance(parsing, e.ExchangeResponseError)
    assert type(inside).__name__ in str(parsing)
    assert isinstance(
        ce.translate(TimeoutError(), exchange="x", method="y"), e.ExchangeTimeoutError
    )


def test_our_own_bugs_are_re_raised_not_called_an_unexpected_response() -> None:
    try:
        {}["price"]  # a bug of ours, not an answer of the exchange
    except KeyError as exc:
        bug = exc
    with pytest.raises(KeyError) as raised:
        ce.translate(bug, exchange="kraken", method="fetch_order")
    assert raised.value is bug


def test_authentication_errors_are_defined_once_for_exchange_and_security() -> None:
    assert e.AuthenticationError is security.AuthenticationError
    assert e.PermissionDeniedError is security.PermissionDeniedError
    refused = ce.translate(ccxt.AuthenticationError("bad key"), exchange="b", method="m")
    denied = ce.translate(ccxt.PermissionDenied("no trading"), exchange="b", method="m")
    assert isinstance(refused, security.AuthenticationError)
    assert isinstance(refused, e.ExchangeCallError)
    assert isinstance(denied, security.PermissionDeniedError)
    assert isinstance(denied, security.AuthenticationError)  # as before: a kind of auth failure


def test_secrets_are_redacted_from_messages() -> None:
    ours = ce.translate(
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
    timeout = ce.translate(ccxt.RequestTimeout("t"), exchange="b", method="create_order")
    limited = ce.translate(ccxt.RateLimitExceeded("r"), exchange="b", method="create_order")
    rejected = ce.translate(ccxt.InvalidOrder("i"), exchange="b", method="create_order")
    assert e.is_order_maybe_executed(timeout)
    assert not e.is_order_maybe_executed(limited)
    assert not e.is_order_maybe_executed(rejected)

"""ccxt dicts become our models: Decimals from floats and strings, precise errors when malformed."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from omegafarm.exchange import ExchangeResponseError
from omegafarm.exchange import normalize as nz
from omegafarm.exchange.models import Ticker

CTX = nz.Ctx("binance", "fetch_order")


def _order(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "42",
        "clientOrderId": "abc",
        "symbol": "BTC/USDT",
        "type": "limit",
        "side": "buy",
        "status": "open",
        "price": 0.1,
        "amount": "0.30000000",
        "filled": 0,
        "remaining": 0.3,
        "cost": None,
        "fee": {"currency": "USDT", "cost": 0.0001, "rate": None},
        "timestamp": 1700000000000,
        "info": {"orderId": 42},
    }
    base.update(overrides)
    return base


def test_order_numbers_become_exact_decimals() -> None:
    order = nz.order(_order(), CTX)
    assert order.price == Decimal("0.1")  # not 0.1000000000000000055511151231257827
    assert order.amount == Decimal("0.30000000")
    assert order.filled == Decimal(0)
    assert order.cost is None
    assert order.fee is not None
    assert order.fee.cost == Decimal("0.0001")
    assert order.info == {"orderId": 42}
    assert order.timestamp_ms == 1700000000000


def test_missing_required_field_names_exchange_method_and_field() -> None:
    with pytest.raises(ExchangeResponseError) as caught:
        nz.many([_order(), _order(id=None)], CTX, nz.order)
    message = str(caught.value)
    assert "binance.fetch_order" in message
    assert "[1].id is missing" in message


def test_non_numeric_price_is_a_response_error_not_a_crash() -> None:
    with pytest.raises(ExchangeResponseError, match=r"field price should be a number, got 'n/a'"):
        nz.order(_order(price="n/a"), CTX)
    with pytest.raises(ExchangeResponseError, match="finite"):
        nz.order(_order(price=float("nan")), CTX)
    with pytest.raises(ExchangeResponseError, match="should be a number, got bool"):
        nz.order(_order(amount=True), CTX)


def test_unknown_side_is_rejected() -> None:
    with pytest.raises(ExchangeResponseError, match="buy or sell"):
        nz.order(_order(side="long"), CTX)


def test_not_an_object_is_rejected() -> None:
    with pytest.raises(ExchangeResponseError, match="should be an object, got str"):
        nz.ticker("<html>502 Bad Gateway</html>", nz.Ctx("kraken", "fetch_ticker"))


def test_market_precision_is_always_a_step() -> None:
    raw = {
        "symbol": "BTC/USDT",
        "id": "BTCUSDT",
        "base": "BTC",
        "quote": "USDT",
        "type": "spot",
        "spot": True,
        "contract": False,
        "precision": {"amount": 5, "price": 2},
        "limits": {"amount": {"min": 0.00001}, "cost": {"min": 5}},
    }
    decimal_places = nz.market(raw, CTX, precision_mode=nz.DECIMAL_PLACES)
    assert decimal_places.amount_step == Decimal("0.00001")
    assert decimal_places.price_step == Decimal("0.01")
    tick = nz.market({**raw, "precision": {"amount": 1e-05, "price": 0.01}}, CTX)
    assert tick.amount_step == Decimal("0.00001")
    assert tick.min_cost == Decimal(5)


def test_balance_lists_currencies_and_skips_summary_keys() -> None:
    raw = {
        "info": {"balances": []},
        "BTC": {"free": 0.5, "used": 0.25, "total": 0.75},
        "free": {"BTC": 0.5},
        "used": {"BTC": 0.25},
        "total": {"BTC": 0.75},
        "timestamp": None,
    }
    balance = nz.balance(raw, nz.Ctx("binance", "fetch_balance"))
    assert set(balance.assets) == {"BTC"}
    assert balance.free("BTC") == Decimal("0.5")
    assert balance.free("ETH") == Decimal(0)


def test_ohlcv_is_a_float64_matrix_and_rejects_short_rows() -> None:
    ctx = nz.Ctx("binance", "fetch_ohlcv")
    arr = nz.ohlcv([[1, "2", 3, 1, 2, 10], [2, 2, 3, 1, 2.5, 0]], ctx)
    assert arr.dtype == np.float64
    assert arr.shape == (2, 6)
    assert arr[0, 1] == 2.0
    with pytest.raises(ExchangeResponseError, match=r"\[1\] should hold 6 values, got 5"):
        nz.ohlcv([[1, 2, 3, 1, 2, 10], [2, 2, 3, 1, 2]], ctx)


def test_order_book_levels_are_decimal_pairs() -> None:
    book = nz.order_book(
        {"symbol": "BTC/USDT", "bids": [[100.5, 1]], "asks": [["101", "2", 7]], "nonce": 9},
        nz.Ctx("binance", "fetch_order_book"),
    )
    assert book.bids == ((Decimal("100.5"), Decimal(1)),)
    assert book.asks == ((Decimal(101), Decimal(2)),)
    assert book.nonce == 9


def test_ticker_is_the_dataclass_the_constructor_would_build() -> None:
    raw = {
        "symbol": "BTC/USDT", "timestamp": 1706628191000, "bid": 42811.99, "bidVolume": "1.5",
        "ask": 42812, "askVolume": None, "last": 0.1, "open": 42992.0, "high": 43160.0,
        "low": 42500.0, "close": 42811.99, "vwap": None, "change": -180.01, "percentage": -0.419,
        "baseVolume": 24211.1, "quoteVolume": 1037389233.12, "info": {"lastPrice": "42811.99"},
    }  # fmt: skip
    built = nz.ticker(raw, nz.Ctx("binance", "fetch_ticker"))
    expected = Ticker(
        "BTC/USDT", 1706628191000, Decimal("42811.99"), Decimal("1.5"), Decimal("42812"), None,
        Decimal("0.1"), Decimal("42992.0"), Decimal("43160.0"), Decimal("42500.0"),
        Decimal("42811.99"), None, Decimal("-180.01"), Decimal("-0.419"), Decimal("24211.1"),
        Decimal("1037389233.12"), {"lastPrice": "42811.99"},
    )  # fmt: skip
    assert built == expected
    assert repr(built) == repr(expected)
    assert dataclasses.asdict(built) == dataclasses.asdict(expected)
    assert {f.name: type(getattr(built, f.name)) for f in dataclasses.fields(Ticker)} == {
        f.name: type(getattr(expected, f.name)) for f in dataclasses.fields(Ticker)
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.last = Decimal(1)  # type: ignore[misc]  # frozen, as the constructor makes it


def test_ticker_converts_a_float_when_its_field_is_first_read() -> None:
    raw = {"symbol": "BTC/USDT", "bid": 42811.99, "ask": "42812", "last": 0.1, "info": {}}
    built = nz.ticker(raw, nz.Ctx("binance", "fetch_ticker"))
    assert "last" not in vars(built) and vars(built)["ask"] == Decimal("42812")
    last = built.last
    assert last == Decimal("0.1") and str(last) == "0.1"
    assert built.last is last  # converted once, then kept
    assert built.high is None and built.bid == Decimal("42811.99")
    with pytest.raises(AttributeError, match="'Ticker' object has no attribute 'lats'"):
        getattr(built, "lats")  # noqa: B009  # a name Ticker does not have


@pytest.mark.parametrize("how", ["pickle", "copy", "deepcopy", "replace"])
def test_a_ticker_with_pending_floats_copies_as_its_decimals(how: str) -> None:
    built = nz.ticker(
        {"symbol": "X/Y", "bid": 1.25, "last": 2.5, "info": {"a": 1}}, nz.Ctx("kraken", "t")
    )
    copied = {
        "pickle": lambda t: pickle.loads(pickle.dumps(t)),
        "copy": copy.copy,
        "deepcopy": copy.deepcopy,
        "replace": lambda t: dataclasses.replace(t, ask=Decimal(3)),
    }[how](built)
    assert (copied.bid, copied.last, copied.info) == (Decimal("1.25"), Decimal("2.5"), {"a": 1})
    assert type(copied) is Ticker and copied == dataclasses.replace(built, ask=copied.ask)


def test_ticker_rejects_a_non_finite_float_naming_the_field() -> None:
    with pytest.raises(ExchangeResponseError, match=r"fetch_ticker.*bid.*finite"):
        nz.ticker({"symbol": "X/Y", "bid": float("nan")}, nz.Ctx("binance", "fetch_ticker"))


_CCXT_KEYS = (
    "bid", "bidVolume", "ask", "askVolume", "last", "open", "high", "low", "close", "vwap",
    "change", "percentage", "baseVolume", "quoteVolume",
)  # fmt: skip


def _ccxt_ticker(**numbers: float | None) -> dict[str, Any]:
    """The shape ccxt's safe_ticker returns: every key, floats or None."""
    raw: dict[str, Any] = {"symbol": "BTC/USDT", "timestamp": 1, "info": {}}
    raw.update(dict.fromkeys(_CCXT_KEYS, 1.5))
    raw.update(numbers)
    return raw


def test_a_ccxt_shaped_ticker_is_what_the_constructor_would_build() -> None:
    raw = _ccxt_ticker(bid=73369.83, vwap=None, quoteVolume=5167027510.687287, change=-0.0)
    built = nz.ticker(raw, nz.Ctx("binance", "fetch_ticker"))
    expected = Ticker(
        "BTC/USDT", 1, Decimal("73369.83"), *[Decimal("1.5")] * 8, None, Decimal("-0.0"),
        Decimal("1.5"), Decimal("1.5"), Decimal("5167027510.687287"), {},
    )  # fmt: skip
    assert built == expected and repr(built) == repr(expected)
    assert built.vwap is None and str(built.change) == "-0.0"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_a_ccxt_shaped_ticker_with_a_non_finite_float_names_the_field(bad: float) -> None:
    with pytest.raises(ExchangeResponseError, match=r"field askVolume should be a finite number"):
        nz.ticker(_ccxt_ticker(askVolume=bad), nz.Ctx("binance", "fetch_ticker"))


def test_a_ccxt_shaped_ticker_whose_sum_overflows_is_still_read() -> None:
    built = nz.ticker(_ccxt_ticker(high=1e308, low=1e308), nz.Ctx("binance", "fetch_ticker"))
    assert (built.high, built.low, built.bid) == (
        Decimal("1E+308"),
        Decimal("1E+308"),
        Decimal("1.5"),
    )


def test_a_ccxt_shaped_ticker_with_a_boolean_is_refused() -> None:
    with pytest.raises(ExchangeResponseError, match=r"field last should be a number, got bool"):
        nz.ticker(_ccxt_ticker(last=True), nz.Ctx("binance", "fetch_ticker"))  # type: ignore[arg-type]

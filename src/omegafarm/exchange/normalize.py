"""ccxt unified dicts → our models, strictly.

One function per type. Numbers become ``Decimal(str(x))`` (``None`` stays ``None``); a field
that is missing when required, or has the wrong type, raises :class:`ExchangeResponseError`
naming the exchange, the method and the field path (``orders[3].price``) instead of a
``KeyError`` deep in a bot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from decimal import Decimal, InvalidOperation
from math import isfinite
from operator import itemgetter
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt

from omegafarm.exchange.errors import ExchangeResponseError, where
from omegafarm.exchange.models import (
    PENDING_FLOATS,
    TICKER_NUMBERS,
    AssetBalance,
    Balance,
    Fee,
    Market,
    Order,
    OrderBook,
    Position,
    Side,
    Ticker,
    Trade,
)

# ccxt precision modes (ccxt.base.decimal_to_precision): how market['precision'] is written.
DECIMAL_PLACES = 2
SIGNIFICANT_DIGITS = 3
TICK_SIZE = 4

T = TypeVar("T")

_BALANCE_META_KEYS = frozenset({"info", "free", "used", "total", "timestamp", "datetime", "debt"})


class Ctx:
    """Where a value comes from, for error messages: exchange, method and field path."""

    __slots__ = ("exchange", "method", "path")

    def __init__(self, exchange: str, method: str, path: str = "") -> None:
        self.exchange = exchange
        self.method = method
        self.path = path

    def at(self, key: str | int) -> Ctx:
        """The context of a child field."""
        part = f"[{key}]" if isinstance(key, int) else (f".{key}" if self.path else key)
        return Ctx(self.exchange, self.method, f"{self.path}{part}")

    def fail(self, problem: str, symbol: str | None = None) -> ExchangeResponseError:
        """An error saying what is wrong with the field at this path."""
        return ExchangeResponseError(
            f"{where(self.exchange, self.method, symbol)}: malformed response: "
            f"field {self.path or '<root>'} {problem}",
            exchange=self.exchange,
            method=self.method,
            symbol=symbol,
        )


def _mapping(value: object, ctx: Ctx) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ctx.fail(f"should be an object, got {type(value).__name__}")
    return cast("Mapping[str, Any]", value)


def _list(value: object, ctx: Ctx) -> Sequence[Any]:
    if not isinstance(value, list | tuple):
        raise ctx.fail(f"should be a list, got {type(value).__name__}")
    return value


_NUMBER_TYPES = (int, float, str, Decimal)


def to_decimal(value: object, ctx: Ctx, key: str | int | None = None) -> Decimal | None:
    """``Decimal(str(value))`` for numbers and numeric strings; ``None``/``""`` stay ``None``.

    ``key`` names the field under ``ctx``; the path is only built when there is an error.
    """
    if type(value) is float:  # what ccxt's parsers hand back almost always: the fast path
        if value - value == 0.0:  # finite (inf - inf and nan - nan are nan)
            return Decimal(repr(value))
        where_ = ctx if key is None else ctx.at(key)
        raise where_.fail(f"should be a finite number, got {value!r}")
    if value is None or value == "":
        return None
    if type(value) not in _NUMBER_TYPES:  # bool is not accepted, nor int/str subclasses
        where_ = ctx if key is None else ctx.at(key)
        raise where_.fail(f"should be a number, got {type(value).__name__} {value!r}")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        where_ = ctx if key is None else ctx.at(key)
        raise where_.fail(f"should be a number, got {value!r}") from None
    if not result.is_finite():
        where_ = ctx if key is None else ctx.at(key)
        raise where_.fail(f"should be a finite number, got {value!r}")
    return result


def _dec(data: Mapping[str, Any], key: str, ctx: Ctx) -> Decimal | None:
    return to_decimal(data.get(key), ctx, key)


def _int(data: Mapping[str, Any], key: str, ctx: Ctx) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if type(value) is int:  # ccxt's timestamps: the fast path
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ctx.at(key).fail(f"should be an integer, got {type(value).__name__}")
    try:
        return int(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        raise ctx.at(key).fail(f"should be an integer, got {value!r}") from None


def _str(data: Mapping[str, Any], key: str, ctx: Ctx, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise ctx.at(key).fail("is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ctx.at(key).fail(f"should be a string, got {type(value).__name__}")
    return str(value)


def _req_str(data: Mapping[str, Any], key: str, ctx: Ctx) -> str:
    value = _str(data, key, ctx, required=True)
    assert value is not None  # guaranteed by required=True
    return value


def _bool(data: Mapping[str, Any], key: str, ctx: Ctx) -> bool | None:
    value = data.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise ctx.at(key).fail(f"should be true/false, got {value!r}")


def _side(data: Mapping[str, Any], ctx: Ctx) -> Side | None:
    side = _str(data, "side", ctx)
    if side is None:
        return None
    side = side.lower()
    if side not in ("buy", "sell"):
        raise ctx.at("side").fail(f"should be buy or sell, got {side!r}")
    return cast("Side", side)


def _info(data: Mapping[str, Any], ctx: Ctx | None = None) -> Mapping[str, Any]:
    info = data.get("info")
    if type(info) is dict:  # the exchange's parsed JSON: the fast path
        return cast("dict[str, Any]", info)
    if isinstance(info, str) and ctx is not None:
        raise ctx.at("info").fail(f"is text where the exchange's JSON should be: {info[:80]!r}")
    if isinstance(info, Mapping):
        return cast("Mapping[str, Any]", info)
    return {"raw": info} if info is not None else {}


def _step(value: object, mode: int, ctx: Ctx) -> Decimal | None:
    number = to_decimal(value, ctx)
    if number is None:
        return None
    if mode == TICK_SIZE:
        return number
    if mode == DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(number))
    return None  # significant digits have no fixed step


def market(raw: object, ctx: Ctx, *, precision_mode: int = TICK_SIZE) -> Market:
    """A ccxt market structure."""
    data = _mapping(raw, ctx)
    precision = _mapping(data.get("precision") or {}, ctx.at("precision"))
    limits = _mapping(data.get("limits") or {}, ctx.at("limits"))

    def limit(kind: str, bound: str) -> Decimal | None:
        section = _mapping(limits.get(kind) or {}, ctx.at("limits").at(kind))
        return _dec(section, bound, ctx.at("limits").at(kind))

    return Market(
        symbol=_req_str(data, "symbol", ctx),
        id=_req_str(data, "id", ctx),
        base=_req_str(data, "base", ctx),
        quote=_req_str(data, "quote", ctx),
        settle=_str(data, "settle", ctx),
        type=_req_str(data, "type", ctx),
        spot=bool(_bool(data, "spot", ctx)),
        contract=bool(_bool(data, "contract", ctx)),
        linear=_bool(data, "linear", ctx),
        inverse=_bool(data, "inverse", ctx),
        active=_bool(data, "active", ctx),
        contract_size=_dec(data, "contractSize", ctx),
        amount_step=_step(precision.get("amount"), precision_mode, ctx.at("precision.amount")),
        price_step=_step(precision.get("price"), precision_mode, ctx.at("precision.price")),
        min_amount=limit("amount", "min"),
        max_amount=limit("amount", "max"),
        min_price=limit("price", "min"),
        max_price=limit("price", "max"),
        min_cost=limit("cost", "min"),
        max_cost=limit("cost", "max"),
        maker_fee=_dec(data, "maker", ctx),
        taker_fee=_dec(data, "taker", ctx),
        info=_info(data, ctx),
    )


# ccxt's ticker number fields and the Ticker fields they fill (in TICKER_NUMBERS' order)
_TICKER_NUMBERS = (
    ("bid", "bid"),
    ("bidVolume", "bid_volume"),
    ("ask", "ask"),
    ("askVolume", "ask_volume"),
    ("last", "last"),
    ("open", "open"),
    ("high", "high"),
    ("low", "low"),
    ("close", "close"),
    ("vwap", "vwap"),
    ("change", "change"),
    ("percentage", "percentage"),
    ("baseVolume", "base_volume"),
    ("quoteVolume", "quote_volume"),
)
if tuple(name for _, name in _TICKER_NUMBERS) != TICKER_NUMBERS or {
    f.name for f in fields(Ticker)
} != {"symbol", "timestamp_ms", "info", *TICKER_NUMBERS}:  # a field added to Ticker fails loudly
    raise TypeError("normalize.ticker does not fill Ticker's fields exactly")
_ticker_numbers = itemgetter(*(key for key, _ in _TICKER_NUMBERS))
_FLOAT_OR_NONE = frozenset({float, type(None)})
_new = object.__new__
_set = object.__setattr__


def ticker(raw: object, ctx: Ctx) -> Ticker:
    """A ccxt ticker structure (on every price poll).

    Every value is checked now; finite floats and ``None`` (what ccxt's parsers hand back
    almost always) are kept as they are, and a float becomes a Decimal when its field is first
    read (see :class:`Ticker`). That common case is checked in C, not field by field: every
    number field present, of type float or None, and their sum finite (a NaN or an infinity
    makes it NaN or infinite; a finite sum that overflows only takes the field-by-field way).
    The frozen dataclass is built without its ``__init__`` (one ``object.__setattr__`` per
    field, each a call); ``tests/exchange/test_normalize.py`` checks it equals what the
    constructor builds.
    """
    data = raw if type(raw) is dict else _mapping(raw, ctx)
    get = data.get
    symbol = get("symbol")
    timestamp_ms = get("timestamp")
    info = get("info")
    values: dict[str, object] = {
        "symbol": symbol if type(symbol) is str and symbol else _req_str(data, "symbol", ctx),
        "timestamp_ms": timestamp_ms if type(timestamp_ms) is int else _int(data, "timestamp", ctx),
        "info": info if type(info) is dict else _info(data, ctx),
    }
    try:
        numbers: tuple[object, ...] = _ticker_numbers(data)
    except KeyError:  # not a ccxt-made ticker: every field on its own
        numbers = ()
    if (
        numbers
        and _FLOAT_OR_NONE.issuperset(map(type, numbers))
        and isfinite(sum(filter(None, numbers)))  # type: ignore[arg-type]  # floats, checked
    ):
        values[PENDING_FLOATS] = numbers
    else:
        pending: list[float | None] = []
        for key, name in _TICKER_NUMBERS:
            value = get(key)
            if type(value) is float and value - value == 0.0:  # finite: inf - inf is nan
                pending.append(value)
            else:
                values[name] = to_decimal(value, ctx, key)
                pending.append(None)  # never read: the field is set
        values[PENDING_FLOATS] = tuple(pending)
    made: Ticker = _new(Ticker)
    made.__dict__.update(values)  # as frozen as Ticker(...) makes it: its __setattr__ refuses
    return made


def tickers(raw: object, ctx: Ctx) -> dict[str, Ticker]:
    """A ccxt ``fetch_tickers`` result (symbol → ticker)."""
    data = _mapping(raw, ctx)
    return {str(key): ticker(value, ctx.at(str(key))) for key, value in data.items()}


def balance(raw: object, ctx: Ctx) -> Balance:
    """A ccxt balance structure (currency keys plus free/used/total/info)."""
    data = _mapping(raw, ctx)
    assets: dict[str, AssetBalance] = {}
    for code, entry in data.items():
        if code in _BALANCE_META_KEYS:
            continue
        section = _mapping(entry, ctx.at(str(code)))
        sub = ctx.at(str(code))
        assets[str(code)] = AssetBalance(
            currency=str(code),
            free=_dec(section, "free", sub),
            used=_dec(section, "used", sub),
            total=_dec(section, "total", sub),
        )
    return Balance(assets=assets, timestamp_ms=_int(data, "timestamp", ctx), info=_info(data))


def fee(raw: object, ctx: Ctx) -> Fee | None:
    """A ccxt fee structure (``None`` when absent or empty)."""
    if raw is None:
        return None
    data = _mapping(raw, ctx)
    if data.get("cost") is None and data.get("currency") is None and data.get("rate") is None:
        return None
    return Fee(
        currency=_str(data, "currency", ctx),
        cost=_dec(data, "cost", ctx),
        rate=_dec(data, "rate", ctx),
    )


def trade(raw: object, ctx: Ctx) -> Trade:
    """A ccxt trade structure."""
    data = _mapping(raw, ctx)
    return Trade(
        id=_str(data, "id", ctx),
        order_id=_str(data, "order", ctx),
        symbol=_req_str(data, "symbol", ctx),
        side=_side(data, ctx),
        type=_str(data, "type", ctx),
        taker_or_maker=_str(data, "takerOrMaker", ctx),
        price=_dec(data, "price", ctx),
        amount=_dec(data, "amount", ctx),
        cost=_dec(data, "cost", ctx),
        fee=fee(data.get("fee"), ctx.at("fee")),
        timestamp_ms=_int(data, "timestamp", ctx),
        info=_info(data, ctx),
    )


def order(raw: object, ctx: Ctx) -> Order:
    """A ccxt order structure."""
    data = _mapping(raw, ctx)
    trades_raw = data.get("trades") or []
    return Order(
        id=_req_str(data, "id", ctx),
        client_order_id=_str(data, "clientOrderId", ctx),
        symbol=_req_str(data, "symbol", ctx),
        type=_str(data, "type", ctx),
        side=_side(data, ctx),
        status=_str(data, "status", ctx),
        price=_dec(data, "price", ctx),
        average=_dec(data, "average", ctx),
        amount=_dec(data, "amount", ctx),
        filled=_dec(data, "filled", ctx),
        remaining=_dec(data, "remaining", ctx),
        cost=_dec(data, "cost", ctx),
        fee=fee(data.get("fee"), ctx.at("fee")),
        time_in_force=_str(data, "timeInForce", ctx),
        post_only=_bool(data, "postOnly", ctx),
        reduce_only=_bool(data, "reduceOnly", ctx),
        trigger_price=_dec(data, "triggerPrice", ctx),
        timestamp_ms=_int(data, "timestamp", ctx),
        last_trade_timestamp_ms=_int(data, "lastTradeTimestamp", ctx),
        trades=tuple(
            trade(item, ctx.at("trades").at(i))
            for i, item in enumerate(_list(trades_raw, ctx.at("trades")))
        ),
        info=_info(data, ctx),
    )


def position(raw: object, ctx: Ctx) -> Position:
    """A ccxt position structure."""
    data = _mapping(raw, ctx)
    return Position(
        symbol=_req_str(data, "symbol", ctx),
        side=_str(data, "side", ctx),
        contracts=_dec(data, "contracts", ctx),
        contract_size=_dec(data, "contractSize", ctx),
        entry_price=_dec(data, "entryPrice", ctx),
        mark_price=_dec(data, "markPrice", ctx),
        notional=_dec(data, "notional", ctx),
        leverage=_dec(data, "leverage", ctx),
        unrealized_pnl=_dec(data, "unrealizedPnl", ctx),
        realized_pnl=_dec(data, "realizedPnl", ctx),
        liquidation_price=_dec(data, "liquidationPrice", ctx),
        margin_mode=_str(data, "marginMode", ctx),
        collateral=_dec(data, "collateral", ctx),
        initial_margin=_dec(data, "initialMargin", ctx),
        maintenance_margin=_dec(data, "maintenanceMargin", ctx),
        timestamp_ms=_int(data, "timestamp", ctx),
        info=_info(data, ctx),
    )


def order_book(raw: object, ctx: Ctx) -> OrderBook:
    """A ccxt order book structure."""
    data = _mapping(raw, ctx)

    def side(key: str) -> tuple[tuple[Decimal, Decimal], ...]:
        levels: list[tuple[Decimal, Decimal]] = []
        for i, level in enumerate(_list(data.get(key) or [], ctx.at(key))):
            sub = ctx.at(key).at(i)
            pair = _list(level, sub)
            if len(pair) < 2:
                raise sub.fail("should be [price, amount]")
            price, amount = to_decimal(pair[0], sub.at(0)), to_decimal(pair[1], sub.at(1))
            if price is None or amount is None:
                raise sub.fail("has an empty price or amount")
            levels.append((price, amount))
        return tuple(levels)

    return OrderBook(
        symbol=_req_str(data, "symbol", ctx),
        bids=side("bids"),
        asks=side("asks"),
        timestamp_ms=_int(data, "timestamp", ctx),
        nonce=_int(data, "nonce", ctx),
    )


def many(raw: object, ctx: Ctx, parse: Callable[[object, Ctx], T]) -> list[T]:
    """Apply ``parse`` (one of the functions above) to every element of a list."""
    return [parse(item, ctx.at(i)) for i, item in enumerate(_list(raw, ctx))]


def ohlcv(raw: object, ctx: Ctx) -> npt.NDArray[np.float64]:
    """A ccxt OHLCV list (``[[ts, o, h, l, c, v], ...]``) as a float64 array of shape (n, 6)."""
    rows = _list(raw, ctx)
    out = np.empty((len(rows), 6), dtype=np.float64)
    for i, row in enumerate(rows):
        sub = ctx.at(i)
        values = _list(row, sub)
        if len(values) < 6:
            raise sub.fail(f"should hold 6 values, got {len(values)}")
        for j in range(6):
            value = values[j]
            if value is None:
                out[i, j] = np.nan if j else _bad_ts(sub)
            elif isinstance(value, bool) or not isinstance(value, int | float | str):
                raise sub.at(j).fail(f"should be a number, got {type(value).__name__}")
            else:
                try:
                    out[i, j] = float(value)
                except ValueError:
                    raise sub.at(j).fail(f"should be a number, got {value!r}") from None
    return out


def _bad_ts(ctx: Ctx) -> float:
    raise ctx.at(0).fail("(timestamp) is missing")
